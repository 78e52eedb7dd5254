package testlab_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// udpReach sends one UDP datagram from node `from` to dst and reports the source
// address the receiving node saw. The receiver listens on dst itself, so a reply proves
// the packet reached the node that owns dst.
func udpReach(t *testing.T, lab *testlab.Lab, from, to string, dst netip.Addr) (netip.Addr, error) {
	t.Helper()
	var conn *net.UDPConn
	if err := lab.Node(to).Do(func() (err error) {
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		return err
	}); err != nil {
		return netip.Addr{}, fmt.Errorf("listen on %s in %s: %w", dst, to, err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	payload := []byte("pktlab " + from + " -> " + to)
	err := lab.Node(from).Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(port))))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("send from %s to %s: %w", from, dst, err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 100)
	n, src, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s -> %s (%s): nothing arrived: %w", from, to, dst, err)
	}
	if string(buf[:n]) != string(payload) {
		return netip.Addr{}, fmt.Errorf("%s -> %s: got %q", from, to, buf[:n])
	}
	return src.Addr().Unmap(), nil
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "labs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExampleLabs brings up every example lab and checks that addresses answer,
// through the router or the bridge where there is one.
func TestExampleLabs(t *testing.T) {
	type probe struct {
		from, to, dst, wantSrc string
	}
	tests := []struct {
		file   string
		probes []probe
	}{
		{"two-hosts.yaml", []probe{
			{"a", "b", "198.18.0.2", "198.18.0.1"},
			{"b", "a", "2001:db8::1", "2001:db8::2"},
		}},
		{"bridge.yaml", []probe{
			{"h1", "h2", "198.18.0.2", "198.18.0.1"},
			{"h3", "h1", "198.18.0.1", "198.18.0.3"},
			{"h2", "h3", "2001:db8::3", "2001:db8::2"},
		}},
		{"client-router-server.yaml", []probe{
			{"client", "server", "198.19.2.2", "198.18.1.2"},
			{"server", "client", "2001:db8:1::2", "2001:db8:2::2"},
			{"client", "router", "198.18.1.1", "198.18.1.2"},
		}},
		{"nat.yaml", []probe{
			{"client1", "client2", "198.18.1.12", "198.18.1.11"},
			{"client2", "router", "198.18.1.1", "198.18.1.12"},
			{"router", "server", "198.19.2.2", "198.19.2.1"},
		}},
		{"small-mtu.yaml", []probe{
			{"client", "server", "198.19.2.2", "198.18.1.2"},
			{"client", "server", "2001:db8:2::2", "2001:db8:1::2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			lab := labtest.Start(t, readExample(t, tt.file))
			for _, p := range tt.probes {
				src, err := udpReach(t, lab, p.from, p.to, netip.MustParseAddr(p.dst))
				if err != nil {
					t.Error(err)
					continue
				}
				if src.String() != p.wantSrc {
					t.Errorf("%s -> %s: source %s, want %s", p.from, p.dst, src, p.wantSrc)
				}
			}
		})
	}
}

// TestNATLabNeedsTranslation: the server has no route back to the clients' subnet, so
// without NAT nothing it sends can reach them. This is what makes the NAT lab teach.
func TestNATLabNeedsTranslation(t *testing.T) {
	lab := labtest.Start(t, readExample(t, "nat.yaml"))
	if _, err := udpReach(t, lab, "server", "client1", netip.MustParseAddr("198.18.1.11")); err == nil {
		t.Error("server reached client1 without NAT; the lab should have no return route")
	}
}

// TestInterfacesAsGiven: MTU and MAC as the topology says, derived MACs otherwise.
func TestInterfacesAsGiven(t *testing.T) {
	lab := labtest.Start(t, `name: x
nodes:
  a:
    interfaces:
      eth0: {addresses: [198.18.0.1/24], mtu: 1400, mac: "02:00:00:00:00:0a"}
  b:
    interfaces:
      eth0: [198.18.0.2/24]
      eth1: [198.18.1.1/24]
  c:
    interfaces:
      eth0: [198.18.1.2/24]
links:
  - [a:eth0, b:eth0]
  - {endpoints: [b:eth1, c:eth0], mtu: 9000}
`)
	tests := []struct {
		node, iface, mac string
		mtu              int
	}{
		{"a", "eth0", "02:00:00:00:00:0a", 1400},
		{"b", "eth0", testlab.DerivedMAC(lab.Name(), "b", "eth0").String(), 1500},
		{"b", "eth1", testlab.DerivedMAC(lab.Name(), "b", "eth1").String(), 9000},
		{"c", "eth0", testlab.DerivedMAC(lab.Name(), "c", "eth0").String(), 9000},
	}
	for _, tt := range tests {
		i, err := lab.Node(tt.node).Interface(tt.iface)
		if err != nil {
			t.Fatal(err)
		}
		if i.MAC.String() != tt.mac || i.MTU != tt.mtu {
			t.Errorf("%s:%s: mac %s mtu %d, want mac %s mtu %d", tt.node, tt.iface, i.MAC, i.MTU, tt.mac, tt.mtu)
		}
		// The same seen from inside the namespace, the way a program in the node sees it.
		var inside *net.Interface
		lab.Node(tt.node).Do(func() (err error) { inside, err = net.InterfaceByName(tt.iface); return err })
		if inside == nil || inside.HardwareAddr.String() != tt.mac {
			t.Errorf("%s:%s seen from inside: %v", tt.node, tt.iface, inside)
		}
	}
}

// TestSysctlsOnlyInTheirNode: forwarding and the topology's sysctls are set inside
// their node, not in the others and not in the host.
func TestSysctlsOnlyInTheirNode(t *testing.T) {
	hostFwd := readHostSysctl(t, "net/ipv4/ip_forward")
	hostTS := readHostSysctl(t, "net/ipv4/tcp_timestamps")
	lab := labtest.Start(t, `name: x
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24]
    sysctls: {net.ipv4.tcp_timestamps: 0, net.ipv4.ip_local_port_range: "40000 40003"}
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
links:
  - [client:eth0, router:eth0]
`)
	tests := []struct{ node, key, want string }{
		{"client", "net.ipv4.tcp_timestamps", "0"},
		{"client", "net.ipv4.ip_local_port_range", "40000\t40003"},
		{"client", "net.ipv4.ip_forward", "0"},
		{"router", "net.ipv4.ip_forward", "1"},
		{"router", "net.ipv6.conf.all.forwarding", "1"},
		{"router", "net.ipv4.tcp_timestamps", "1"},
		{"router", "net.ipv6.conf.eth0.accept_dad", "0"},
	}
	for _, tt := range tests {
		got, err := lab.Node(tt.node).Sysctl(tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: %s = %q, want %q", tt.node, tt.key, got, tt.want)
		}
	}
	if got := readHostSysctl(t, "net/ipv4/ip_forward"); got != hostFwd {
		t.Errorf("host ip_forward changed: %s -> %s", hostFwd, got)
	}
	if got := readHostSysctl(t, "net/ipv4/tcp_timestamps"); got != hostTS {
		t.Errorf("host tcp_timestamps changed: %s -> %s", hostTS, got)
	}
	if err := lab.Node("client").SetSysctl("kernel.hostname", "x"); err == nil || !strings.Contains(err.Error(), "not a net.* sysctl") {
		t.Errorf("SetSysctl(kernel.hostname) = %v, want a refusal", err)
	}
}

// TestIPv6UsableAtOnce: DAD is off, so an IPv6 address is not "tentative" and can be
// bound the moment the lab is up.
func TestIPv6UsableAtOnce(t *testing.T) {
	lab := labtest.Start(t, readExample(t, "two-hosts.yaml"))
	err := lab.Node("a").Do(func() error {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.ParseIP("2001:db8::1")})
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Errorf("bind to 2001:db8::1 right after start: %v (EADDRNOTAVAIL means the address is still tentative)", err)
	}
}

// TestCloseRemovesEverything: no namespace, mount or state file remains, and Close
// is safe twice.
func TestCloseRemovesEverything(t *testing.T) {
	lab := labtest.Start(t, readExample(t, "nat.yaml"))
	name := lab.Name()
	var nss []string
	for _, n := range lab.Nodes() {
		nss = append(nss, n.Namespace())
		if _, err := os.Stat(filepath.Join(testlab.NetnsDir, n.Namespace())); err != nil {
			t.Fatalf("namespace %s not mounted while up: %v", n.Namespace(), err)
		}
	}
	if _, err := testlab.ReadState(name); err != nil {
		t.Fatalf("no state while up: %v", err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, ns := range nss {
		if _, err := os.Stat(filepath.Join(testlab.NetnsDir, ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s left behind (stat: %v)", ns, err)
		}
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), testlab.Prefix+name+"-") {
		t.Errorf("a mount of lab %s is left in /proc/self/mountinfo", name)
	}
	if _, err := testlab.ReadState(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left: %v", err)
	}
}

// TestOpenAndRelease: another user of the lab opens it by name and sees the same
// namespaces; Release leaves the lab up.
func TestOpenAndRelease(t *testing.T) {
	lab := labtest.Start(t, readExample(t, "client-router-server.yaml"))
	other, err := testlab.Open(lab.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range lab.Nodes() {
		o := other.Node(n.Name())
		if o == nil {
			t.Fatalf("opened lab lacks node %s", n.Name())
		}
		a, b := netns.NsHandle(n.NetNSFd()), netns.NsHandle(o.NetNSFd())
		if !a.Equal(b) {
			t.Errorf("node %s: opened namespace differs", n.Name())
		}
	}
	other.Release()
	if _, err := udpReach(t, lab, "client", "server", netip.MustParseAddr("198.19.2.2")); err != nil {
		t.Errorf("lab broken after Release: %v", err)
	}
	if _, err := testlab.Open("no-such-lab"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(no-such-lab) = %v, want ErrNotExist", err)
	}
}

// TestStartTwiceFails: a second lab with the same name is refused and the first
// keeps working.
func TestStartTwiceFails(t *testing.T) {
	lab := labtest.Start(t, readExample(t, "two-hosts.yaml"))
	topo, err := testlab.Parse([]byte(strings.Replace(readExample(t, "two-hosts.yaml"), "name: two", "name: "+lab.Name(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testlab.Start(context.Background(), topo); err == nil || !strings.Contains(err.Error(), "already up") {
		t.Fatalf("second Start = %v, want 'already up'", err)
	}
	if _, err := udpReach(t, lab, "a", "b", netip.MustParseAddr("198.18.0.2")); err != nil {
		t.Errorf("first lab broken by the refused second: %v", err)
	}
}

// TestStartCancelledLeavesNothing: a cancelled Start removes what it created.
func TestStartCancelledLeavesNothing(t *testing.T) {
	privtestRequire(t)
	name := labtest.UniqueName()
	topo, err := testlab.Parse([]byte(strings.Replace(readExample(t, "nat.yaml"), "name: nat", "name: "+name, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := testlab.Start(ctx, topo); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v", err)
	}
	ents, _ := os.ReadDir(testlab.NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), testlab.Prefix+name) {
			t.Errorf("namespace %s left after a cancelled Start", e.Name())
		}
	}
	if _, err := testlab.ReadState(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left after a cancelled Start: %v", err)
	}
}

// TestExecRunsInNode: a program started in a node sees the node's interfaces.
func TestExecRunsInNode(t *testing.T) {
	lab := labtest.Start(t, readExample(t, "two-hosts.yaml"))
	out, err := lab.Node("a").Exec(context.Background(), "cat", "/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	var ifaces []string
	for _, line := range strings.Split(string(out), "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			ifaces = append(ifaces, name)
		}
	}
	if strings.Join(ifaces, ",") != "lo,eth0" {
		t.Errorf("interfaces seen by a program in node a = %v, want [lo eth0] (the node's, not the host's)", ifaces)
	}
	if _, err := lab.Node("a").Exec(context.Background(), "sh", "-c", "echo oops; exit 3"); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing Exec = %v, want an error carrying the output", err)
	}
}

func readHostSysctl(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// ipv6State is what the kernel of a node says about IPv6 on one interface: its IPv6
// addresses, link-local included, and its IPv6 and ICMPv6 output counters
// (/proc/net/dev_snmp6/IF; MLD reports and router solicitations are ICMPv6).
func ipv6State(t *testing.T, n *testlab.Node, iface string) (addrs []string, ip6Out, icmp6Out string) {
	t.Helper()
	h, err := n.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	list, err := h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		addrs = append(addrs, a.IPNet.String())
	}
	out, err := n.Exec(context.Background(), "cat", "/proc/net/dev_snmp6/"+iface)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			switch f[0] {
			case "Ip6OutRequests":
				ip6Out = f[1]
			case "Icmp6OutMsgs":
				icmp6Out = f[1]
			}
		}
	}
	return addrs, ip6Out, icmp6Out
}

// TestNoIPv6WhereThereIsNoIPv6Address: an interface the topology gives no IPv6
// address (a bridge's ports and br0 included) has IPv6 off: no address, not even
// link-local, and nothing sent, so no MLD report and no router solicitation; the
// kernel drops IPv6 output on it (ip6_output). An interface with an IPv6 address
// keeps IPv6 and reaches its neighbour by NDP.
func TestNoIPv6WhereThereIsNoIPv6Address(t *testing.T) {
	lab := labtest.Start(t, `name: x
nodes:
  a:
    forward: true
    interfaces:
      eth0: [198.18.0.1/24]
      eth1: [198.18.1.1/24, 2001:db8:1::1/64]
  b:
    interfaces: {eth0: [198.18.0.2/24]}
  c:
    interfaces: {eth0: [198.18.1.2/24, 2001:db8:1::2/64]}
  sw:
    kind: bridge
    interfaces: {p1: [], p2: []}
links:
  - [a:eth0, sw:p1]
  - [sw:p2, b:eth0]
  - [a:eth1, c:eth0]
`)
	if _, err := udpReach(t, lab, "c", "a", netip.MustParseAddr("2001:db8:1::1")); err != nil {
		t.Errorf("IPv6 between a:eth1 and c:eth0: %v", err)
	}
	if _, err := udpReach(t, lab, "b", "a", netip.MustParseAddr("198.18.0.1")); err != nil {
		t.Errorf("IPv4 across the bridge: %v", err)
	}
	off := map[string][]string{"a": {"eth0"}, "b": {"eth0"}, "sw": {"p1", "p2", testlab.BridgeName}}
	for node, ifaces := range off {
		n := lab.Node(node)
		for _, i := range ifaces {
			if v, err := n.Sysctl("net.ipv6.conf." + i + ".disable_ipv6"); err != nil || v != "1" {
				t.Errorf("%s:%s: disable_ipv6 = %q (%v), want 1", node, i, v, err)
			}
			addrs, ip6Out, icmp6Out := ipv6State(t, n, i)
			if len(addrs) > 0 || ip6Out != "0" || icmp6Out != "0" {
				t.Errorf("%s:%s has no IPv6 address in the topology, but IPv6 addresses %v, Ip6OutRequests %s, Icmp6OutMsgs %s; want none and 0", node, i, addrs, ip6Out, icmp6Out)
			}
		}
	}
	for _, ep := range []struct{ node, iface string }{{"a", "eth1"}, {"c", "eth0"}} {
		if addrs, ip6Out, _ := ipv6State(t, lab.Node(ep.node), ep.iface); len(addrs) < 2 || ip6Out == "0" {
			t.Errorf("%s:%s: IPv6 addresses %v, Ip6OutRequests %s; want its address and link-local, and output", ep.node, ep.iface, addrs, ip6Out)
		}
	}
	// Below IPv6's minimum MTU the kernel makes no IPv6 device: nothing to turn off.
	small := labtest.Start(t, `name: x
nodes:
  a: {interfaces: {eth0: [198.18.0.1/24]}}
  b: {interfaces: {eth0: [198.18.0.2/24]}}
links: [{endpoints: [a:eth0, b:eth0], mtu: 576}]
`)
	if _, err := udpReach(t, small, "a", "b", netip.MustParseAddr("198.18.0.2")); err != nil {
		t.Errorf("IPv4 on a 576-byte link: %v", err)
	}
}
