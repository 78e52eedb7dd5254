package testlab

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/internal/privtest"
)

const goodTopology = `name: nat
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
    routes: [default via 198.18.1.1, default via 2001:db8:1::1]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
      eth1: {addresses: [198.19.2.1/24], mtu: 1400, mac: "02:00:00:00:02:01"}
    sysctls: {net.ipv4.tcp_timestamps: 0}
  server:
    interfaces:
      eth0: [198.19.2.2/24]
    routes: [default via 198.19.2.1, "198.18.9.0/24 via 198.19.2.1"]
  sw:
    kind: bridge
    interfaces: {p1: []}
  h:
    interfaces:
      eth0: [198.18.3.2/24]
links:
  - [client:eth0, router:eth0]
  - {endpoints: [router:eth1, server:eth0], mtu: 1400}
  - [h:eth0, sw:p1]
`

func TestParseGood(t *testing.T) {
	topo, err := ParseFile("nat.yaml", []byte(goodTopology))
	if err != nil {
		t.Fatal(err)
	}
	type ifc struct {
		Node, Name string
		Addrs      []netip.Prefix
		MTU        int
		MAC        string
	}
	var got []ifc
	for _, n := range topo.Nodes {
		for _, i := range n.Interfaces {
			got = append(got, ifc{n.Name, i.Name, i.Addrs, topo.linkMTU(Endpoint{n.Name, i.Name}), topo.macOf(Endpoint{n.Name, i.Name}).String()})
		}
	}
	p := netip.MustParsePrefix
	want := []ifc{
		{"client", "eth0", []netip.Prefix{p("198.18.1.2/24"), p("2001:db8:1::2/64")}, 1500, DerivedMAC("nat", "client", "eth0").String()},
		{"router", "eth0", []netip.Prefix{p("198.18.1.1/24"), p("2001:db8:1::1/64")}, 1500, DerivedMAC("nat", "router", "eth0").String()},
		{"router", "eth1", []netip.Prefix{p("198.19.2.1/24")}, 1400, "02:00:00:00:02:01"},
		{"server", "eth0", []netip.Prefix{p("198.19.2.2/24")}, 1400, DerivedMAC("nat", "server", "eth0").String()},
		{"sw", "p1", nil, 1500, DerivedMAC("nat", "sw", "p1").String()},
		{"h", "eth0", []netip.Prefix{p("198.18.3.2/24")}, 1500, DerivedMAC("nat", "h", "eth0").String()},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if r := topo.Node("server").Routes; len(r) != 2 || r[0].String() != "default via 198.19.2.1" || r[1].String() != "198.18.9.0/24 via 198.19.2.1" {
		t.Errorf("server routes = %v", r)
	}
	if s := topo.Node("router").Sysctls; len(s) != 1 || s[0] != (Sysctl{"net.ipv4.tcp_timestamps", "0"}) {
		t.Errorf("router sysctls = %v", s)
	}
	if !topo.Node("router").Forward || topo.Node("client").Forward {
		t.Error("forward: want router only")
	}
	if topo.Node("sw").Kind != KindBridge {
		t.Error("sw: want a bridge")
	}
}

func TestDerivedMACIsStableAndLocal(t *testing.T) {
	a, b := DerivedMAC("nat", "client", "eth0"), DerivedMAC("nat", "client", "eth0")
	if a.String() != b.String() {
		t.Fatalf("not deterministic: %s vs %s", a, b)
	}
	if a[0] != 0x02 {
		t.Errorf("first byte %#x: want 0x02 (locally administered, unicast)", a[0])
	}
	if DerivedMAC("nat", "client", "eth1").String() == a.String() {
		t.Error("two interfaces share a derived MAC")
	}
}

// TestParseErrors: every validation error, with its message and position.
func TestParseErrors(t *testing.T) {
	const two = `name: x
nodes:
  a:
    interfaces:
      eth0: [198.18.0.1/24]
  b:
    interfaces:
      eth0: [198.18.0.2/24]
links:
  - [a:eth0, b:eth0]
`
	// edit replaces old by new in the two-node topology.
	edit := func(old, new string) string {
		if !strings.Contains(two, old) {
			panic("test bug: " + old)
		}
		return strings.Replace(two, old, new, 1)
	}
	tests := []struct {
		name, src string
		want      string // the first error, file:line:col: message prefix
	}{
		{"unknown top key", edit("links:", "linx:"), "t.yaml:9:1: unknown key \"linx\" in topology"},
		{"unknown node key", edit("    interfaces:\n      eth0: [198.18.0.1/24]", "    interface:\n      eth0: [198.18.0.1/24]"), "t.yaml:4:5: unknown key \"interface\" in node a"},
		{"unknown interface key", edit("eth0: [198.18.0.1/24]", "eth0: {adresses: [198.18.0.1/24]}"), "t.yaml:5:14: unknown key \"adresses\" in interface a:eth0"},
		{"unknown link key", edit("  - [a:eth0, b:eth0]", "  - {endpoints: [a:eth0, b:eth0], mt: 9}"), "t.yaml:10:35: unknown key \"mt\" in link"},
		{"unknown node in link", edit("[a:eth0, b:eth0]", "[a:eth0, c:eth0]"), "t.yaml:10:14: link endpoint c:eth0: unknown node \"c\" (nodes: a, b)"},
		{"unknown interface in link", edit("[a:eth0, b:eth0]", "[a:eth0, b:eth9]"), "t.yaml:10:14: link endpoint b:eth9: node b has no interface \"eth9\""},
		{"interface in two links", two + "  - [a:eth0, b:eth0]\n", "t.yaml:11:6: interface a:eth0 is already in another link"},
		{"link to itself", edit("[a:eth0, b:eth0]", "[a:eth0, a:eth0]"), "t.yaml:10:5: link a:eth0 to itself"},
		{"bad endpoint", edit("[a:eth0, b:eth0]", "[a:eth0, beth0]"), "t.yaml:10:14: bad endpoint \"beth0\": want node:interface"},
		{"one endpoint", edit("[a:eth0, b:eth0]", "[a:eth0]"), "t.yaml:10:5: a link has exactly two endpoints"},
		{"bad CIDR", edit("198.18.0.1/24", "198.18.0.1/33"), "t.yaml:5:14: a:eth0: bad address \"198.18.0.1/33\""},
		{"no prefix length", edit("198.18.0.1/24", "198.18.0.1"), "t.yaml:5:14: a:eth0: bad address \"198.18.0.1\""},
		{"duplicate address", edit("198.18.0.2/24", "198.18.0.1/24"), "t.yaml:8:14: b:eth0: address 198.18.0.1 is already on a:eth0"},
		{"address outside lab range", edit("198.18.0.1/24", "192.168.1.1/24"), "t.yaml:5:14: a:eth0: address 192.168.1.1/24 is outside the lab ranges"},
		{"v6 outside lab range", edit("198.18.0.1/24", "fd00::1/64"), "t.yaml:5:14: a:eth0: address fd00::1/64 is outside the lab ranges"},
		{"network address", edit("198.18.0.1/24", "198.18.0.0/24"), "t.yaml:5:14: a:eth0: 198.18.0.0/24 is the network address"},
		{"broadcast address", edit("198.18.0.1/24", "198.18.0.255/24"), "t.yaml:5:14: a:eth0: 198.18.0.255/24 is the broadcast address"},
		{"gateway off subnet", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    routes: [default via 198.18.5.1]"), "t.yaml:6:14: node a: gateway 198.18.5.1 is not on a subnet of the node's interfaces (198.18.0.0/24)"},
		{"gateway is own address", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    routes: [default via 198.18.0.1]"), "t.yaml:6:14: node a: gateway 198.18.0.1 is the node's own address"},
		{"route outside lab", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    routes: [\"10.0.0.0/8 via 198.18.0.2\"]"), "t.yaml:6:14: node a: route to 10.0.0.0/8 leaves the lab ranges"},
		{"bad route", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    routes: [default to 198.18.0.2]"), "t.yaml:6:14: node a: bad route \"default to 198.18.0.2\": unknown word \"to\""},
		{"route host bits", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    routes: [\"198.19.0.1/16 via 198.18.0.2\"]"), "t.yaml:6:14: node a: bad route \"198.19.0.1/16 via 198.18.0.2\": destination 198.19.0.1/16 has host bits set"},
		{"lab name too long", edit("name: x", "name: abcdefghijklmnopqrstuvwxyz"), "t.yaml:1:7: lab name \"abcdefghijklmnopqrstuvwxyz\" must be 1 to 20 characters"},
		{"lab name bad chars", edit("name: x", "name: My_Lab"), "t.yaml:1:7: lab name \"My_Lab\" must be"},
		{"node name too long", strings.ReplaceAll(two, "b", "node-name-far-too-long"), "t.yaml:6:3: node name \"node-name-far-too-long\" must be 1 to 20 characters"},
		{"interface name too long", strings.ReplaceAll(two, "eth0", "ethernet-port-zero"), "t.yaml:5:7: interface name \"ethernet-port-zero\" must be 1 to 15 characters"},
		{"no name", edit("name: x\n", ""), "t.yaml:1:1: the topology has no name"},
		{"no nodes", "name: x\n", "t.yaml:1:1: the topology has no nodes"},
		{"interface in no link", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n      eth1: [198.18.7.1/24]"), "t.yaml:6:7: interface a:eth1 is in no link"},
		{"bad mtu", edit("[a:eth0, b:eth0]", "{endpoints: [a:eth0, b:eth0], mtu: 20}"), "t.yaml:10:40: link: bad mtu \"20\""},
		{"ipv6 small mtu", edit("[198.18.0.1/24]", "[2001:db8::1/64]") + "", ""},
		{"bad mac", edit("eth0: [198.18.0.1/24]", "eth0: {addresses: [198.18.0.1/24], mac: zz}"), "t.yaml:5:47: a:eth0: bad MAC \"zz\""},
		{"multicast mac", edit("eth0: [198.18.0.1/24]", "eth0: {addresses: [198.18.0.1/24], mac: \"01:00:5e:00:00:01\"}"), "t.yaml:5:47: a:eth0: MAC 01:00:5e:00:00:01 is a multicast address"},
		{"bridge with address", edit("  b:\n    interfaces:", "  b:\n    kind: bridge\n    interfaces:"), "t.yaml:9:14: b:eth0: a bridge port carries no address"},
		{"unknown kind", edit("  b:\n    interfaces:", "  b:\n    kind: router\n    interfaces:"), "t.yaml:7:11: node b: unknown kind \"router\""},
		{"non-net sysctl", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    sysctls: {kernel.panic: 1}"), "t.yaml:6:15: node a: sysctl \"kernel.panic\": only net.* sysctls are per namespace"},
		{"duplicate key", edit("  b:\n", "  a:\n"), "t.yaml:6:3: nodes: \"a\" is given twice"},
		{"bad yaml", "name: [x\n", "t.yaml:"},
		{"links not a list", edit("links:\n  - [a:eth0, b:eth0]", "links: a:eth0"), "t.yaml:9:8: links must be a list"},
		{"forward not bool", edit("  a:\n    interfaces:", "  a:\n    forward: maybe\n    interfaces:"), "t.yaml:4:14: node a: forward must be true or false"},
		{"node name with dash", strings.ReplaceAll(two, "b", "a-b"), "t.yaml:6:3: node name \"a-b\" must be 1 to 20 characters of a-z and 0-9 (no '-': it separates lab and node"},
		{"no nodes in mapping", "name: x\nnodes: {}\nlinks: []\n", "t.yaml:2:1: nodes is empty"},
		{"interface named lo", strings.ReplaceAll(two, "eth0", "lo"), "t.yaml:5:7: a:lo: the name lo is taken in every lab node (loopback)"},
		{"interface named sit0", strings.ReplaceAll(two, "eth0", "sit0"), "t.yaml:5:7: a:sit0: the name sit0 is taken in every lab node (the sit module's fallback device)"},
		{"bridge port named br0", strings.ReplaceAll(strings.ReplaceAll(edit("  b:\n    interfaces:", "  b:\n    kind: bridge\n    interfaces:"), "b:eth0", "b:br0"), "      eth0: [198.18.0.2/24]", "      br0: []"), "t.yaml:9:7: node b is a bridge, and its bridge device is called br0"},
		{"sysctl that does not exist", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    sysctls: {net.ipv4.tcp_no_such_thing: 1}"), "t.yaml:6:15: node a: sysctl net.ipv4.tcp_no_such_thing does not exist"},
		{"sysctl of a device the node lacks", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    sysctls: {net.ipv4.conf.eth9.rp_filter: 1}"), "t.yaml:6:15: node a: sysctl net.ipv4.conf.eth9.rp_filter names device eth9, which node a does not have (its interfaces: eth0; or all, default, lo)"},
		{"sysctl of a device with a bad key", edit("      eth0: [198.18.0.1/24]", "      eth0: [198.18.0.1/24]\n    sysctls: {net.ipv6.conf.eth0.no_such_key: 1}"), "t.yaml:6:15: node a: sysctl net.ipv6.conf.eth0.no_such_key does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				// ipv6 small mtu: build it explicitly.
				src := strings.Replace(strings.Replace(two, "[198.18.0.1/24]", "[2001:db8::1/64]", 1), "[a:eth0, b:eth0]", "{endpoints: [a:eth0, b:eth0], mtu: 1200}", 1)
				tt.src, tt.want = src, "t.yaml:5:14: a:eth0: IPv6 needs an MTU of at least 1280"
			}
			_, err := ParseFile("t.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; want %q", tt.want)
			}
			if !IsInvalid(err) {
				t.Errorf("IsInvalid(%v) = false", err)
			}
			var first *Error
			if !errors.As(err, &first) {
				t.Fatalf("error %v is not a *testlab.Error", err)
			}
			if got := first.Error(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("first error:\n got %s\nwant %s…\n(all: %v)", got, tt.want, err)
			}
		})
	}
}

func TestParseCollectsAllErrors(t *testing.T) {
	src := `name: x
nodes:
  a:
    interfaces:
      eth0: [198.18.0.1/99]
      eth1: {mtu: 1}
links:
  - [a:eth0, z:eth0]
`
	_, err := ParseFile("t.yaml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	if len(list) < 2 {
		t.Errorf("want every error reported, got %d: %v", len(list), err)
	}
}

// TestErrorListIsCapped: a file with hundreds of errors prints the first
// MaxShownErrors and a count of the rest; the list itself keeps them all.
func TestErrorListIsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: x\nnodes:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "  n%d: {interfaces: {e0: [10.0.0.%d/24]}}\n", i, i+1)
	}
	_, err := ParseFile("t.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) || len(list) < 200 {
		t.Fatalf("want at least 200 errors, got %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxShownErrors+1 {
		t.Fatalf("%d lines printed, want %d", len(lines), MaxShownErrors+1)
	}
	if want := fmt.Sprintf("and %d more errors", len(list)-MaxShownErrors); lines[MaxShownErrors] != want {
		t.Errorf("last line %q, want %q", lines[MaxShownErrors], want)
	}
}

// TestSysctlsOfLabInterfaces: per-interface sysctls name the node's own interfaces (or
// all, default, lo, and br0 on a bridge), and are checked against loopback's keys.
func TestSysctlsOfLabInterfaces(t *testing.T) {
	src := `name: x
nodes:
  a:
    interfaces: {eth0.5: [198.18.0.1/24]}
    sysctls:
      net.ipv4.conf.eth0.5.rp_filter: 2
      net.ipv6.conf.all.forwarding: 1
      net.ipv6.conf.lo.disable_ipv6: 0
      net.ipv4.neigh.eth0.5.base_reachable_time_ms: 1000
  b:
    kind: bridge
    interfaces: {p1: []}
    sysctls: {net.ipv4.conf.br0.forwarding: 0}
links: [[a:eth0.5, b:p1]]
`
	if _, err := ParseFile("t.yaml", []byte(src)); err != nil {
		t.Error(err)
	}
}

// TestSysctlOnlyInHostNamespace: with the privileges lab up has, a key that the host
// has but a new namespace lacks (net.core.netdev_max_backlog is registered for the
// initial namespace only, net/core/sysctl_net_core.c) is refused at parse time, with
// a position, instead of failing half-way through lab up.
func TestSysctlOnlyInHostNamespace(t *testing.T) {
	privtest.Require(t)
	src := strings.Replace(goodTopology, "sysctls: {net.ipv4.tcp_timestamps: 0}", "sysctls: {net.core.netdev_max_backlog: 2000}", 1)
	_, err := ParseFile("t.yaml", []byte(src))
	want := "t.yaml:12:15: node router: sysctl net.core.netdev_max_backlog exists only in the host's network namespace"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s…", err, want)
	}
}
