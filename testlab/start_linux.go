//go:build linux

package testlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Start creates the lab described by t. On any error, or when ctx is cancelled, what
// was created is removed before Start returns.
func Start(ctx context.Context, t *Topology) (_ *Lab, err error) {
	if t == nil || t.Name == "" || len(t.Nodes) == 0 {
		return nil, errors.New("testlab: Start needs a parsed topology with nodes")
	}
	if err := sharedNetnsDir(); err != nil {
		return nil, err
	}
	if err := claim(t, t.limits); err != nil {
		return nil, err
	}
	l := &Lab{topo: t, owned: true, created: true}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	for _, spec := range t.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("testlab: lab %s: interrupted while creating nodes: %w", t.Name, err)
		}
		n, err := newNode(l, spec)
		if err != nil {
			return nil, err
		}
		l.nodes = append(l.nodes, n)
	}
	for _, link := range t.Links {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("testlab: lab %s: interrupted while creating links: %w", t.Name, err)
		}
		if err := l.addLink(link); err != nil {
			return nil, err
		}
	}
	for _, n := range l.nodes {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("testlab: lab %s: interrupted while configuring nodes: %w", t.Name, err)
		}
		if err := n.configure(); err != nil {
			return nil, err
		}
	}
	if err := l.waitOperUp(ctx); err != nil {
		return nil, err
	}
	if err := update(t.Name, func(s *State) { s.Up = true }); err != nil {
		return nil, err
	}
	return l, nil
}

// sharedNetnsDir makes NetnsDir a mount point with shared propagation before any
// namespace is mounted in it, as `ip netns add` does (iproute2's netns_add). Without
// it, a lab's namespace mounts sit on the directory of the root filesystem, and the
// next `ip netns add` bind-mounts the directory over itself: its copies of our mounts
// can be unmounted, but the originals beneath stay, and the files can no longer be
// removed (EBUSY) or even reached. With the directory already a shared mount point,
// iproute2 only repeats the propagation change, and both tools mount into the same
// place.
func sharedNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("testlab: %w", err)
	}
	// Two labs starting at once must not both bind the directory over itself.
	dir, err := os.Open(NetnsDir)
	if err != nil {
		return fmt.Errorf("testlab: %w", err)
	}
	defer dir.Close()
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("testlab: lock %s: %w", NetnsDir, err)
	}
	err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("testlab: make %s a shared mount point (as ip netns add does): %w", NetnsDir, err)
	}
	return nil
}

// newNode creates the node's namespace, mounted under /run/netns, with loopback up
// and the sysctls that must precede its interfaces (DAD off, forwarding).
func newNode(l *Lab, spec *NodeSpec) (*Node, error) {
	name := NamespaceName(l.topo.Name, spec.Name)
	var h netns.NsHandle
	err := onThread(func() error {
		var err error
		if h, err = netns.NewNamed(name); err != nil { // switches this thread into it
			return err
		}
		return initNamespace(spec)
	})
	if err != nil {
		if h.IsOpen() {
			h.Close()
		}
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("testlab: namespace %s already exists: a lab %s is up or was left by a crash (pktlab lab down %s)", name, l.topo.Name, l.topo.Name)
		}
		deleteNamespace(name)
		return nil, fmt.Errorf("testlab: create namespace %s: %w", name, err)
	}
	return &Node{lab: l, spec: spec, ns: h}, nil
}

// initNamespace runs on a thread inside the new namespace.
func initNamespace(spec *NodeSpec) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	// DAD off before any interface exists, so that new interfaces inherit it from
	// "default" and addresses are usable at once instead of tentative for ~1 s.
	settings := []Sysctl{
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv6.conf.all.accept_dad", "0"},
	}
	if spec.Forward {
		settings = append(settings,
			Sysctl{"net.ipv4.ip_forward", "1"},
			Sysctl{"net.ipv6.conf.all.forwarding", "1"})
	}
	for _, s := range settings {
		if err := writeSysctl(s.Key, s.Value); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", s.Key, s.Value, err)
		}
	}
	return nil
}

// addLink creates a veth pair from a netlink handle inside A's namespace, with the
// peer created directly in B's namespace: no end ever exists in the host namespace.
//
// The A end gets an explicit ifindex, firstLinkIndex plus the link's number, because
// both ends would otherwise get the same small index in their own namespaces, and
// linkwatch_urgent_event() (net/core/link_watch.c) treats a device whose ifindex equals
// its iflink as not urgent: its carrier change then waits for the rate-limited
// linkwatch run, up to a second, and frames sent meanwhile are dropped. With distinct
// indexes, both ends are activated at once.
func (l *Lab) addLink(ls *LinkSpec) error {
	a, b := l.Node(ls.A.Node), l.Node(ls.B.Node)
	h, err := a.Handle()
	if err != nil {
		return err
	}
	defer h.Close()
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:         ls.A.Interface,
			Index:        firstLinkIndex + l.linkNumber(ls),
			MTU:          l.topo.mtuOf(ls.A, ls),
			HardwareAddr: l.topo.macOf(ls.A),
		},
		PeerName:         ls.B.Interface,
		PeerMTU:          uint32(l.topo.mtuOf(ls.B, ls)),
		PeerHardwareAddr: l.topo.macOf(ls.B),
		PeerNamespace:    netlink.NsFd(int(b.ns)),
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("testlab: lab %s: create veth %s <-> %s: %w", l.topo.Name, ls.A, ls.B, err)
	}
	return nil
}

// firstLinkIndex is the ifindex of the first link's A end; automatically numbered
// interfaces start at 2 (after lo), far below it.
const firstLinkIndex = 1000

func (l *Lab) linkNumber(ls *LinkSpec) int {
	for i, x := range l.topo.Links {
		if x == ls {
			return i
		}
	}
	return 0
}

// configure brings the node's interfaces up with their addresses, joins bridge ports,
// adds routes and applies the node's sysctls.
func (n *Node) configure() error {
	h, err := n.Handle()
	if err != nil {
		return err
	}
	defer h.Close()
	var br netlink.Link
	if n.spec.Kind == KindBridge {
		if br, err = n.addBridge(h); err != nil {
			return err
		}
	}
	if err := n.disableUnusedIPv6(); err != nil {
		return err
	}
	for _, is := range n.spec.Interfaces {
		link, err := h.LinkByName(is.Name)
		if err != nil {
			return n.errorf("find interface %s: %w", is.Name, err)
		}
		for _, p := range is.Addrs {
			a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
			if p.Addr().Is6() {
				a.Flags = unix.IFA_F_NODAD
			}
			if err := h.AddrAdd(link, a); err != nil {
				return n.errorf("add %s to %s: %w", p, is.Name, err)
			}
		}
		if br != nil {
			if err := h.LinkSetMaster(link, br); err != nil {
				return n.errorf("join %s to bridge %s: %w", is.Name, BridgeName, err)
			}
		}
		if err := h.LinkSetUp(link); err != nil {
			return n.errorf("bring %s up: %w", is.Name, err)
		}
	}
	for _, r := range n.spec.Routes {
		if err := n.addRoute(h, r); err != nil {
			return err
		}
	}
	for _, s := range n.spec.Sysctls {
		if err := n.SetSysctl(s.Key, s.Value); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) addBridge(h *netlink.Handle) (netlink.Link, error) {
	// A new bridge has STP off, so its ports forward at once (br_make_forwarding in
	// net/bridge/br_stp.c skips the listening/learning delay without STP), as on an
	// unmanaged switch.
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}}
	if err := h.LinkAdd(br); err != nil {
		return nil, n.errorf("create bridge %s: %w", BridgeName, err)
	}
	if err := n.Do(func() error { return disableIPv6(BridgeName) }); err != nil {
		return nil, n.errorf("%w", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return nil, n.errorf("bring bridge %s up: %w", BridgeName, err)
	}
	return br, nil
}

// disableUnusedIPv6 turns IPv6 off on each of the node's interfaces that the topology
// gives no IPv6 address, before the interface is brought up.
//
// An interface with IPv6 on makes itself a link-local address when it comes up and
// then sends, for a second or more, MLD reports for its solicited-node group (and
// for ff02::2 on a forwarding node) and router solicitations: frames that sit between
// the ones an experiment is about, on links that carry no IPv6 at all. disable_ipv6
// (Documentation/networking/ip-sysctl.rst) is the one switch that stops all of it, and
// it says what the topology says: no IPv6 here; an IPv6 frame that arrives is dropped
// as by a host without IPv6. addr_gen_mode=1 would stop the link-local address but
// not the all-routers membership of a router, and mldv*_unsolicited_report_interval
// only spaces the reports out. Interfaces with IPv6 addresses keep IPv6 as the
// kernel sets it up, reports included: a snooping bridge forwards neighbour
// solicitations by them. A topology's own sysctls are written after this, so
// net.ipv6.conf.IF.disable_ipv6: 0 turns it back on.
func (n *Node) disableUnusedIPv6() error {
	var off []string
	for _, is := range n.spec.Interfaces {
		if !slices.ContainsFunc(is.Addrs, func(p netip.Prefix) bool { return p.Addr().Is6() }) {
			off = append(off, is.Name)
		}
	}
	if len(off) == 0 {
		return nil
	}
	err := n.Do(func() error {
		for _, name := range off {
			if err := disableIPv6(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return n.errorf("%w", err)
	}
	return nil
}

// disableIPv6 sets disable_ipv6 on one interface of the calling thread's namespace.
// The path is built from the name as it is: an interface name may hold dots, which the
// dotted sysctl notation would take for separators. An interface without the file has
// no IPv6 to disable: the kernel has no IPv6, or the interface's MTU is below IPv6's
// 1280, for which addrconf (net/ipv6/addrconf.c) makes no IPv6 device at all.
func disableIPv6(iface string) error {
	p := filepath.Join("/proc/sys/net/ipv6/conf", iface, "disable_ipv6")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		_, err = f.WriteString("1")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("turn IPv6 off on %s, which has no IPv6 address: %w", iface, err)
	}
	return nil
}

func (n *Node) addRoute(h *netlink.Handle, r Route) error {
	rt := &netlink.Route{
		Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
	}
	if r.Via.IsValid() {
		rt.Gw = r.Via.AsSlice()
	}
	if r.Dev != "" {
		link, err := h.LinkByName(r.Dev)
		if err != nil {
			return n.errorf("route %s: find %s: %w", r, r.Dev, err)
		}
		rt.LinkIndex = link.Attrs().Index
	}
	if err := h.RouteAdd(rt); err != nil {
		return n.errorf("add route %s: %w", r, err)
	}
	return nil
}

func (n *Node) errorf(format string, args ...any) error {
	return fmt.Errorf("testlab: lab %s, node %s: %w", n.lab.topo.Name, n.spec.Name, fmt.Errorf(format, args...))
}

// operUpTimeout bounds the wait for links to become operational.
const operUpTimeout = 5 * time.Second

// waitOperUp waits until every interface is operationally up. The kernel turns a
// veth's carrier on when both ends are up, but the operational state and the real
// qdisc follow from the linkwatch work queue (net/core/link_watch.c), asynchronously;
// until then frames are dropped. Waiting here means an experiment's first frame is
// never lost to lab start-up.
func (l *Lab) waitOperUp(ctx context.Context) error {
	deadline := time.Now().Add(operUpTimeout)
	for _, n := range l.nodes {
		h, err := n.Handle()
		if err != nil {
			return err
		}
		for {
			down := ""
			links, err := h.LinkList()
			if err != nil {
				h.Close()
				return n.errorf("list links: %w", err)
			}
			for _, ln := range links {
				a := ln.Attrs()
				if a.Name == "lo" || (n.spec.Kind == KindBridge && a.Name == BridgeName) {
					continue
				}
				if a.OperState != netlink.OperUp {
					down = a.Name
					break
				}
			}
			if down == "" {
				break
			}
			if time.Now().After(deadline) {
				h.Close()
				return n.errorf("interface %s is still not operationally up after %v", down, operUpTimeout)
			}
			select {
			case <-ctx.Done():
				h.Close()
				return fmt.Errorf("testlab: lab %s: interrupted while waiting for links: %w", l.topo.Name, ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
		h.Close()
	}
	return nil
}
