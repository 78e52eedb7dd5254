package testlab_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/pktlab/pktlab/labtest"
)

// hostSnapshot is the host namespace's network configuration, without counters.
type hostSnapshot struct {
	Links, Addrs, Routes, Rules, NFTables, Sysctls []string
}

// hostSysctls are the host settings lab code is most likely to touch by mistake.
var hostSysctls = []string{
	"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/tcp_timestamps",
	"net/ipv4/tcp_sack", "net/ipv4/ip_local_port_range", "net/ipv6/conf/all/accept_dad",
	"net/ipv6/conf/default/accept_dad", "net/ipv4/tcp_syn_retries",
}

func snapshotHost(t *testing.T) hostSnapshot {
	t.Helper()
	var s hostSnapshot
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		a := l.Attrs()
		s.Links = append(s.Links, fmt.Sprintf("%d %s %s mtu %d mac %s master %d promisc %d flags %v", a.Index, a.Name, l.Type(), a.MTU, a.HardwareAddr, a.MasterIndex, a.Promisc, a.Flags))
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		s.Addrs = append(s.Addrs, fmt.Sprintf("%d %s", a.LinkIndex, a.IPNet))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		s.Routes = append(s.Routes, fmt.Sprintf("table %d dst %v gw %v dev %d proto %d scope %d", r.Table, r.Dst, r.Gw, r.LinkIndex, r.Protocol, r.Scope))
	}
	rules, err := netlink.RuleList(netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		s.Rules = append(s.Rules, r.String())
	}
	// Reading the host's tables changes nothing.
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		chains, _ := c.ListChainsOfTableFamily(tb.Family)
		s.NFTables = append(s.NFTables, fmt.Sprintf("table %d %s (%d chains in family)", tb.Family, tb.Name, len(chains)))
	}
	for _, k := range hostSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			t.Fatal(err)
		}
		s.Sysctls = append(s.Sysctls, k+"="+strings.TrimSpace(string(b)))
	}
	for _, l := range [][]string{s.Links, s.Addrs, s.Routes, s.Rules, s.NFTables} {
		sort.Strings(l)
	}
	return s
}

// TestHostNamespaceUntouched: building and removing every example lab, with traffic,
// sysctls, forwarding and programs run inside nodes, leaves the host namespace exactly
// as it was. (scripts/test.sh checks the same around the whole suite.)
func TestHostNamespaceUntouched(t *testing.T) {
	before := snapshotHost(t)
	t.Run("labs", func(t *testing.T) {
		for _, f := range []string{"two-hosts.yaml", "bridge.yaml", "client-router-server.yaml", "nat.yaml", "small-mtu.yaml"} {
			lab := labtest.Start(t, readExample(t, f))
			for _, n := range lab.Nodes() {
				if n.Spec().Kind != 0 {
					continue
				}
				if err := n.SetSysctl("net.ipv4.tcp_timestamps", "0"); err != nil {
					t.Fatal(err)
				}
			}
			if f == "client-router-server.yaml" {
				if _, err := udpReach(t, lab, "client", "server", netip.MustParseAddr("198.19.2.2")); err != nil {
					t.Fatal(err)
				}
			}
			if err := lab.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	after := snapshotHost(t)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the host namespace changed (-before +after):\n%s", diff)
	}
	for _, l := range after.Links {
		if strings.Contains(l, " pktlab-") {
			t.Errorf("a pktlab link exists in the host namespace: %s", l)
		}
	}
}
