package testlab

import (
	"crypto/sha256"
	"net"
	"net/netip"

	"github.com/pktlab/pktlab/internal/enumname"
)

// Topology is a parsed and validated lab description.
type Topology struct {
	Name  string
	Nodes []*NodeSpec
	Links []*LinkSpec

	// File is where the topology came from ("" when parsed from bytes), and Source the
	// text it was parsed from; Source is kept in the lab state so Open re-parses it.
	File   string
	Source []byte

	limits Limits // those it was validated within, recorded in the lab's state
}

// NodeKind says what a node is.
type NodeKind int

// Node kinds.
const (
	// KindHost is a namespace with addresses and routes on its interfaces.
	KindHost NodeKind = iota
	// KindBridge is a namespace holding a Linux bridge, br0, that joins all its
	// interfaces at L2. Its interfaces carry no addresses.
	KindBridge
)

var nodeKindNames = [...]string{KindHost: "host", KindBridge: "bridge"}

func (k NodeKind) String() string { return enumname.Name(k, nodeKindNames[:], "NodeKind(%d)") }

// BridgeName is the name of the bridge device inside a bridge node.
const BridgeName = "br0"

// NodeSpec describes one node.
type NodeSpec struct {
	Name       string
	Kind       NodeKind
	Forward    bool // net.ipv4.ip_forward and net.ipv6.conf.all.forwarding inside the node
	Interfaces []*InterfaceSpec
	Routes     []Route
	Sysctls    []Sysctl // in file order
}

// Interface returns the node's interface spec by name, or nil.
func (n *NodeSpec) Interface(name string) *InterfaceSpec {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// InterfaceSpec describes one interface of a node: one end of a veth link.
type InterfaceSpec struct {
	Name  string
	Addrs []netip.Prefix
	MTU   int              // 0 means the link's MTU, or 1500
	MAC   net.HardwareAddr // nil means derived from lab, node and interface names
}

// Route is a static route in a node.
type Route struct {
	Dst netip.Prefix // 0.0.0.0/0 or ::/0 for "default"
	Via netip.Addr   // invalid for a device route
	Dev string       // "" unless given with "dev"
}

func (r Route) String() string {
	s := r.Dst.String()
	if r.Dst.Bits() == 0 {
		s = "default"
	}
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

// Sysctl is one key = value setting, key in dotted form (net.ipv4.tcp_timestamps).
type Sysctl struct {
	Key, Value string
}

// Endpoint names one interface of one node: "router:eth1".
type Endpoint struct {
	Node, Interface string
}

func (e Endpoint) String() string { return e.Node + ":" + e.Interface }

// LinkSpec is a veth pair between two endpoints.
type LinkSpec struct {
	A, B Endpoint
	MTU  int // 0 means 1500
}

// Node returns the node spec by name, or nil.
func (t *Topology) Node(name string) *NodeSpec {
	for _, n := range t.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// NamespaceName is the name of a node's namespace: pktlab-<lab>-<node>.
func NamespaceName(lab, node string) string { return Prefix + lab + "-" + node }

// Prefix starts the name of everything a lab creates.
const Prefix = "pktlab-"

// DerivedMAC is the MAC an interface gets when the topology gives none: a locally
// administered unicast address (02:…) from a hash of lab, node and interface names, so
// captures of the same lab are byte-for-byte reproducible.
func DerivedMAC(lab, node, iface string) net.HardwareAddr {
	h := sha256.Sum256([]byte(lab + "/" + node + "/" + iface))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// mtuOf is the MTU an interface is created with.
func (t *Topology) mtuOf(ep Endpoint, l *LinkSpec) int {
	if i := t.Node(ep.Node).Interface(ep.Interface); i != nil && i.MTU != 0 {
		return i.MTU
	}
	if l.MTU != 0 {
		return l.MTU
	}
	return 1500
}

// macOf is the MAC an interface is created with.
func (t *Topology) macOf(ep Endpoint) net.HardwareAddr {
	if i := t.Node(ep.Node).Interface(ep.Interface); i != nil && i.MAC != nil {
		return i.MAC
	}
	return DerivedMAC(t.Name, ep.Node, ep.Interface)
}

// LabRanges are the only address ranges a lab may use: RFC 2544's benchmark range and
// RFC 3849's documentation range.
var LabRanges = []netip.Prefix{
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// InLabRange reports whether a is inside one of LabRanges.
func InLabRange(a netip.Addr) bool {
	a = a.Unmap()
	for _, r := range LabRanges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}
