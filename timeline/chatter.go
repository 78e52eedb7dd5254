package timeline

import "net/netip"

// Chatter reports whether an event is link-local multicast chatter: a frame that a
// node's IPv6 stack sends by itself on a new link (Frame.Chatter), or the kernel's
// drop of one. A text timeline may leave these out, saying how many it left out;
// the record keeps them.
func Chatter(e Event) bool {
	switch d := e.Data.(type) {
	case *Frame:
		return d.Chatter()
	case *Drop:
		return d.Packet != nil && linkLocal(d.Packet.Src, d.Packet.Dst)
	}
	return false
}

// Chatter reports link-local multicast housekeeping: multicast listener reports,
// router and neighbour solicitations and advertisements sent to a multicast group
// (ICMPv6 types 130-137 and 143), and anything from an IPv6 link-local (or the
// unspecified) address to a multicast or link-local one. ARP is not chatter: it
// shows how the first frame of a flow found its way.
func (f *Frame) Chatter() bool {
	p := &f.Packet
	if p.Proto == "icmp6" && p.Dst.IsMulticast() && (p.ICMPType >= 130 && p.ICMPType <= 137 || p.ICMPType == 143) {
		return true
	}
	return linkLocal(p.Src, p.Dst)
}

func linkLocal(src, dst netip.Addr) bool {
	return src.Is6() && (src.IsLinkLocalUnicast() || src.IsUnspecified()) &&
		(dst.IsMulticast() || dst.IsLinkLocalUnicast())
}
