package testlab

import "net/netip"

// validate checks what the tree walk could not: references between nodes, interfaces
// and links, address ranges and duplicates, and gateways.
func (p *parser) validate(t *Topology, pos *positions) {
	p.validateLinks(t, pos)
	p.validateAddrs(t, pos)
	for _, n := range t.Nodes {
		p.validateNode(t, n, pos)
	}
}

func (p *parser) validateLinks(t *Topology, pos *positions) {
	used := map[Endpoint]bool{}
	for i, l := range t.Links {
		if l.A == l.B {
			p.errorf(pos.link[i], "link %s to itself: a link joins two different interfaces", l.A)
			continue
		}
		for j, ep := range []Endpoint{l.A, l.B} {
			at := pos.ep[i][j]
			n := t.Node(ep.Node)
			switch {
			case n == nil:
				p.errorf(at, "link endpoint %s: unknown node %q (nodes: %s)", ep, ep.Node, nodeNames(t))
			case n.Interface(ep.Interface) == nil:
				p.errorf(at, "link endpoint %s: node %s has no interface %q (declare it under nodes.%s.interfaces)", ep, ep.Node, ep.Interface, ep.Node)
			case used[ep]:
				p.errorf(at, "interface %s is already in another link; an interface is one end of one veth pair", ep)
			}
			used[ep] = true
		}
	}
	for _, n := range t.Nodes {
		for _, i := range n.Interfaces {
			ep := Endpoint{n.Name, i.Name}
			if !used[ep] {
				p.errorf(pos.iface[ep], "interface %s is in no link; add it to links or remove it", ep)
			}
		}
	}
}

func (p *parser) validateAddrs(t *Topology, pos *positions) {
	owner := map[netip.Addr]Endpoint{}
	for _, n := range t.Nodes {
		for _, i := range n.Interfaces {
			ep := Endpoint{n.Name, i.Name}
			for k, a := range i.Addrs {
				at := pos.addr[ep][k]
				addr := a.Addr()
				switch {
				case n.Kind == KindBridge:
					p.errorf(at, "%s: a bridge port carries no address; give the address to a host on the bridge", ep)
				case !InLabRange(addr):
					p.errorf(at, "%s: address %s is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32; labs use only those", ep, a)
				case addr.Is4() && a.Bits() < 31 && addr == a.Masked().Addr():
					p.errorf(at, "%s: %s is the network address of its subnet; hosts use the addresses after it", ep, a)
				case addr.Is4() && a.Bits() < 31 && addr == lastAddr(a):
					p.errorf(at, "%s: %s is the broadcast address of its subnet", ep, a)
				case owner[addr] != (Endpoint{}):
					p.errorf(at, "%s: address %s is already on %s", ep, addr, owner[addr])
				default:
					owner[addr] = ep
				}
				if addr.Is6() && t.linkMTU(ep) < 1280 {
					p.errorf(at, "%s: IPv6 needs an MTU of at least 1280 (RFC 8200 §5), this interface has %d", ep, t.linkMTU(ep))
				}
			}
		}
	}
}

func (p *parser) validateNode(t *Topology, n *NodeSpec, pos *positions) {
	if len(n.Interfaces) == 0 {
		p.errorf(pos.node[n.Name], "node %s has no interfaces, so it could never exchange a frame", n.Name)
	}
	if p.opts.checkSysctls {
		for k, s := range n.Sysctls {
			if msg := checkSysctl(n, s.Key); msg != "" {
				p.errorf(pos.sysctl[n.Name][k], "node %s: sysctl %s %s", n.Name, s.Key, msg)
			}
		}
	}
	if n.Kind == KindBridge {
		if i := n.Interface(BridgeName); i != nil {
			p.errorf(pos.iface[Endpoint{n.Name, i.Name}], "node %s is a bridge, and its bridge device is called %s: name its ports otherwise, like p1", n.Name, BridgeName)
		}
		if n.Forward {
			p.errorf(pos.node[n.Name], "node %s is a bridge; forward applies to hosts that route", n.Name)
		}
		if len(n.Routes) > 0 {
			p.errorf(pos.route[n.Name][0], "node %s is a bridge; a bridge has no routes", n.Name)
		}
		return
	}
	for k, r := range n.Routes {
		at := pos.route[n.Name][k]
		if r.Dst.Bits() != 0 && !InLabRange(r.Dst.Addr()) {
			p.errorf(at, "node %s: route to %s leaves the lab ranges 198.18.0.0/15 and 2001:db8::/32", n.Name, r.Dst)
		}
		if r.Dev != "" && n.Interface(r.Dev) == nil {
			p.errorf(at, "node %s: route %s names interface %q, which the node does not have", n.Name, r, r.Dev)
		}
		if r.Via.IsValid() {
			if own := n.hasAddr(r.Via); own {
				p.errorf(at, "node %s: gateway %s is the node's own address", n.Name, r.Via)
			} else if !n.onLink(r.Via, r.Dev) {
				p.errorf(at, "node %s: gateway %s is not on a subnet of the node's interfaces%s", n.Name, r.Via, subnetsHint(n, r.Via.Is4()))
			}
		}
	}
}

func (n *NodeSpec) hasAddr(a netip.Addr) bool {
	for _, i := range n.Interfaces {
		for _, p := range i.Addrs {
			if p.Addr() == a {
				return true
			}
		}
	}
	return false
}

func (n *NodeSpec) onLink(a netip.Addr, dev string) bool {
	for _, i := range n.Interfaces {
		if dev != "" && i.Name != dev {
			continue
		}
		for _, p := range i.Addrs {
			if p.Masked().Contains(a) {
				return true
			}
		}
	}
	return false
}

func subnetsHint(n *NodeSpec, v4 bool) string {
	s := ""
	for _, i := range n.Interfaces {
		for _, p := range i.Addrs {
			if p.Addr().Is4() == v4 {
				if s != "" {
					s += ", "
				}
				s += p.Masked().String()
			}
		}
	}
	if s == "" {
		return " (it has no address of that family)"
	}
	return " (" + s + ")"
}

func (t *Topology) linkMTU(ep Endpoint) int {
	for _, l := range t.Links {
		if l.A == ep || l.B == ep {
			return t.mtuOf(ep, l)
		}
	}
	if i := t.Node(ep.Node).Interface(ep.Interface); i != nil && i.MTU != 0 {
		return i.MTU
	}
	return 1500
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= 1<<host - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func nodeNames(t *Topology) string {
	s := ""
	for i, n := range t.Nodes {
		if i > 0 {
			s += ", "
		}
		s += n.Name
	}
	return s
}
