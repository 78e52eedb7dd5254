package header_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/rawsock/internal/testcorpus"
)

// fields is what a view and gopacket's layer both say about a header, in one form,
// so that cmp.Diff can compare them.
type fields map[string]any

func addr(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a }

// compare decodes b as header kind with the view and with gopacket's layer and
// describes how they differ: whether each accepts b (and, when neither does, whether
// both call it truncated), and every field both decode.
func compare(kind gopacket.LayerType, b []byte) string {
	var fb feedback
	var view, gp fields
	var verr, gerr error
	switch kind {
	case layers.LayerTypeEthernet:
		var v header.Ethernet
		var l layers.Ethernet
		v, verr = header.ParseEthernet(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if verr == nil && gerr == nil && v.Type() >= header.EtherTypeMinII {
			view = fields{"dst": []byte(v.Dst()), "src": []byte(v.Src()), "type": uint16(v.Type()), "payload": v.Payload()}
			gp = fields{"dst": []byte(l.DstMAC), "src": []byte(l.SrcMAC), "type": uint16(l.EthernetType), "payload": l.Payload}
		}
	case layers.LayerTypeLinuxSLL:
		var v header.SLL
		var l layers.LinuxSLL
		v, verr = header.ParseSLL(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if verr == nil && gerr == nil {
			view = fields{"pkttype": v.PacketType(), "hatype": v.AddrType(), "addr": []byte(v.Addr()), "type": uint16(v.Type()), "payload": v.Payload()}
			gp = fields{"pkttype": uint16(l.PacketType), "hatype": l.AddrType, "addr": []byte(l.Addr), "type": uint16(l.EthernetType), "payload": l.Payload}
		}
	case layers.LayerTypeIPv4:
		var v header.IPv4
		var l layers.IPv4
		v, verr = header.ParseIPv4(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if v != nil && gerr == nil {
			view = fields{"version": v.Version(), "hlen": v.HeaderLen(), "tos": v.TOS(), "length": v.TotalLength(), "id": v.ID(),
				"flags": v.Flags(), "df": v.DontFragment(), "mf": v.MoreFragments(), "frag": v.FragmentOffset(), "ttl": v.TTL(),
				"proto": uint8(v.Protocol()), "csum": v.Checksum(), "src": v.Src(), "dst": v.Dst(), "payload": v.Payload(),
				"fragment": v.Fragment()}
			gp = fields{"version": l.Version, "hlen": int(l.IHL) * 4, "tos": l.TOS, "length": binaryLength(b), "id": l.Id,
				"flags": uint8(l.Flags), "df": l.Flags&layers.IPv4DontFragment != 0, "mf": l.Flags&layers.IPv4MoreFragments != 0,
				"frag": int(l.FragOffset) * 8, "ttl": l.TTL, "proto": uint8(l.Protocol), "csum": l.Checksum,
				"src": addr(l.SrcIP), "dst": addr(l.DstIP), "payload": l.Payload,
				"fragment": l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0}
		}
	case layers.LayerTypeIPv6:
		var v header.IPv6
		var l layers.IPv6
		v, verr = header.ParseIPv6(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if gerr == nil && l.Length == 0 {
			return "" // a jumbogram (RFC 2675), which the view leaves undecoded
		}
		if v != nil && v.NextHeader() == header.IPProtocolHopByHop {
			if it := v.ExtHeaders(); !it.Next() {
				v, verr = nil, it.Err() // gopacket decodes a hop-by-hop header with the fixed one
			}
		}
		if v != nil && gerr == nil {
			view = fields{"version": v.Version(), "class": v.TrafficClass(), "flow": v.FlowLabel(), "length": v.PayloadLength(),
				"next": uint8(v.NextHeader()), "hlim": v.HopLimit(), "src": v.Src(), "dst": v.Dst()}
			gp = fields{"version": l.Version, "class": l.TrafficClass, "flow": l.FlowLabel, "length": l.Length,
				"next": uint8(l.NextHeader), "hlim": l.HopLimit, "src": addr(l.SrcIP), "dst": addr(l.DstIP)}
			// gopacket folds a hop-by-hop header into the IPv6 layer; the view's
			// iterator returns it as the first extension header.
			it := v.ExtHeaders()
			if l.HopByHop != nil {
				if !it.Next() {
					return fmt.Sprintf("gopacket decodes a hop-by-hop header, the iterator none: %v", it.Err())
				}
				h := it.Header()
				view["hbh.next"], gp["hbh.next"] = uint8(h.NextHeader()), uint8(l.HopByHop.NextHeader)
				view["hbh.len"], gp["hbh.len"] = len(h.Bytes), l.HopByHop.ActualLength
			}
			_, rest := it.Transport()
			view["payload"], gp["payload"] = rest, l.Payload
		}
	case layers.LayerTypeIPv6Fragment:
		var l layers.IPv6Fragment
		gerr = l.DecodeFromBytes(b, &fb)
		if len(b) < header.IPv6FragmentLen {
			verr = header.ErrTruncated
		} else if gerr == nil {
			v := header.IPv6Fragment(b)
			view = fields{"next": uint8(v.NextHeader()), "off": v.Offset(), "more": v.More(), "id": v.ID(), "payload": v.Payload()}
			gp = fields{"next": uint8(l.NextHeader), "off": int(l.FragmentOffset) * 8, "more": l.MoreFragments, "id": l.Identification, "payload": l.Payload}
		}
	case layers.LayerTypeTCP:
		var v header.TCP
		var l layers.TCP
		v, verr = header.ParseTCP(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if verr == nil && gerr == nil {
			view, gp = tcpFields(v, &l)
		}
	case layers.LayerTypeUDP:
		var v header.UDP
		var l layers.UDP
		v, verr = header.ParseUDP(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if v != nil && gerr == nil {
			view = fields{"sport": v.SrcPort(), "dport": v.DstPort(), "length": v.Length(), "csum": v.Checksum(), "payload": v.Payload()}
			gp = fields{"sport": uint16(l.SrcPort), "dport": uint16(l.DstPort), "length": l.Length, "csum": l.Checksum, "payload": l.Payload}
		}
	case layers.LayerTypeICMPv4:
		var v header.ICMPv4
		var l layers.ICMPv4
		v, verr = header.ParseICMPv4(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if verr == nil && gerr == nil {
			view = fields{"type": uint8(v.Type()), "code": uint8(v.Code()), "csum": v.Checksum(), "id": v.ID(), "seq": v.Seq(), "payload": v.Payload()}
			gp = fields{"type": l.TypeCode.Type(), "code": l.TypeCode.Code(), "csum": l.Checksum, "id": l.Id, "seq": l.Seq, "payload": l.Payload}
		}
	case layers.LayerTypeICMPv6:
		var v header.ICMPv6
		var l layers.ICMPv6
		v, verr = header.ParseICMPv6(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if len(b) >= 4 && len(b) < header.ICMPv6MinLen && errors.Is(verr, header.ErrTruncated) {
			return "" // gopacket takes 4 bytes; every ICMPv6 message defined has 8 (RFC 4443 §2.1)
		}
		if verr == nil && gerr == nil {
			view = fields{"type": uint8(v.Type()), "code": uint8(v.Code()), "csum": v.Checksum(), "body": []byte(v[4:])}
			gp = fields{"type": l.TypeCode.Type(), "code": l.TypeCode.Code(), "csum": l.Checksum, "body": l.Payload}
		}
	case layers.LayerTypeARP:
		var v header.ARP
		var l layers.ARP
		v, verr = header.ParseARP(b)
		gerr = l.DecodeFromBytes(b, &fb)
		if verr == nil && gerr == nil {
			view = fields{"hw": v.HardwareType(), "proto": uint16(v.ProtocolType()), "op": uint16(v.Op()), "sha": []byte(v.SenderHW()),
				"spa": v.SenderProto(), "tha": []byte(v.TargetHW()), "tpa": v.TargetProto(), "payload": v.Payload()}
			gp = fields{"hw": uint16(l.AddrType), "proto": uint16(l.Protocol), "op": l.Operation, "sha": []byte(l.SourceHwAddress),
				"spa": l.SourceProtAddress, "tha": []byte(l.DstHwAddress), "tpa": l.DstProtAddress, "payload": l.Payload}
		}
	}
	if ok, gok := verr == nil || (view != nil && gerr == nil), gerr == nil; ok != gok {
		return fmt.Sprintf("view error %v, gopacket's %v", verr, gerr)
	}
	// gopacket raises its truncated flag for a payload cut short before it looks
	// at the rest of the header, so a malformed field after that reads to it as
	// truncation; the view reports the malformed field.
	if verr != nil && gerr != nil && errors.Is(verr, header.ErrTruncated) != (fb.truncated || shortFor(kind, b)) &&
		!(errors.Is(verr, header.ErrMalformed) && fb.truncated) {
		return fmt.Sprintf("view error %v, gopacket's %v (truncated %v)", verr, gerr, fb.truncated)
	}
	if diff := cmp.Diff(gp, view, cmp.Comparer(bytes.Equal), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		return fmt.Sprintf("fields (-gopacket +view):\n%s", diff)
	}
	return ""
}

// shortFor reports whether b is shorter than the header of kind says it is, which
// gopacket reports without raising its truncated flag for some headers; the views
// call that truncation, as rawsock.Decoder always did.
func shortFor(kind gopacket.LayerType, b []byte) bool {
	switch kind {
	case layers.LayerTypeEthernet:
		return len(b) < 14
	case layers.LayerTypeLinuxSLL:
		return len(b) < 16
	case layers.LayerTypeIPv4:
		return len(b) >= 1 && len(b) < int(b[0]&0x0f)*4
	}
	return false
}

// binaryLength is the IPv4 total length as the header holds it, which gopacket
// replaces by the packet's length when it is 0.
func binaryLength(b []byte) uint16 { return uint16(b[2])<<8 | uint16(b[3]) }

func tcpFields(v header.TCP, l *layers.TCP) (fields, fields) {
	view := fields{"sport": v.SrcPort(), "dport": v.DstPort(), "seq": v.Seq(), "ack": v.Ack(), "off": v.DataOffset(),
		"flags": uint8(v.Flags()), "ae": v.AE(), "win": v.Window(), "csum": v.Checksum(), "urg": v.Urgent(), "payload": v.Payload()}
	var gflags header.TCPFlags
	for _, f := range []struct {
		on  bool
		bit header.TCPFlags
	}{{l.FIN, header.TCPFlagFIN}, {l.SYN, header.TCPFlagSYN}, {l.RST, header.TCPFlagRST}, {l.PSH, header.TCPFlagPSH},
		{l.ACK, header.TCPFlagACK}, {l.URG, header.TCPFlagURG}, {l.ECE, header.TCPFlagECE}, {l.CWR, header.TCPFlagCWR}} {
		if f.on {
			gflags |= f.bit
		}
	}
	gp := fields{"sport": uint16(l.SrcPort), "dport": uint16(l.DstPort), "seq": l.Seq, "ack": l.Ack, "off": int(l.DataOffset) * 4,
		"flags": uint8(gflags), "ae": l.NS, "win": l.Window, "csum": l.Checksum, "urg": l.Urgent, "payload": l.Payload}
	// gopacket decodes MPTCP options into fields of their own and drops a list
	// whose last option runs past the header; compare the lists it keeps whole.
	it := v.Options()
	var opts []string
	for it.Next() {
		o := it.Option()
		opts = append(opts, fmt.Sprintf("%d %x", o.Kind, o.Data))
	}
	if it.Err() == nil && !l.Multipath {
		var gopts []string
		for _, o := range l.Options {
			gopts = append(gopts, fmt.Sprintf("%d %x", o.OptionType, o.OptionData))
		}
		view["options"], gp["options"] = opts, gopts
		view["padding"], gp["padding"] = it.Padding(), l.Padding
		if len(l.Padding) == 0 {
			view["padding"] = []byte(nil)
			gp["padding"] = []byte(nil)
		}
	}
	return view, gp
}

type feedback struct{ truncated bool }

func (f *feedback) SetTruncated() { f.truncated = true }

var kinds = []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeIPv4, layers.LayerTypeIPv6,
	layers.LayerTypeIPv6Fragment, layers.LayerTypeTCP, layers.LayerTypeUDP, layers.LayerTypeICMPv4, layers.LayerTypeICMPv6, layers.LayerTypeARP}

// corpus returns every header of the frames of rawsock's test captures, each with
// the bytes from its start to the end of the frame, by the kind gopacket gives it.
func corpus(tb testing.TB) map[gopacket.LayerType][][]byte {
	out := map[gopacket.LayerType][][]byte{}
	for _, fr := range testcorpus.Read(tb, "..", testcorpus.Files...) {
		first := layers.LayerTypeEthernet
		if fr.Link == layers.LinkTypeLinuxSLL {
			first = layers.LayerTypeLinuxSLL
		}
		data := fr.Data
		p := gopacket.NewPacket(data, first, gopacket.NoCopy)
		for _, l := range p.Layers() {
			t := l.LayerType()
			if t == gopacket.LayerTypePayload || t == gopacket.LayerTypeDecodeFailure {
				continue
			}
			off := len(data) - len(l.LayerContents()) - len(l.LayerPayload())
			if ip6, ok := l.(*layers.IPv6); ok && ip6.HopByHop != nil {
				off -= len(ip6.HopByHop.Contents)
			}
			if off >= 0 && off <= len(data) {
				out[t] = append(out[t], data[off:])
			}
		}
	}
	return out
}

// TestViewsMatchGopacket reads every header of the test captures, and every
// truncation of it, with the views and with gopacket's layers: they must agree on
// whether it decodes and on every field.
func TestViewsMatchGopacket(t *testing.T) {
	n := 0
	for kind, hs := range corpus(t) {
		for i, h := range hs {
			for cut := min(len(h), 120); cut >= 0; cut-- {
				b := h[:cut]
				if cut == 120 {
					b = h
				}
				n++
				if diff := compare(kind, b); diff != "" {
					t.Fatalf("%v header %d cut to %d bytes (% x): %s", kind, i, len(b), b, diff)
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d headers compared: the corpus did not load", n)
	}
	t.Logf("%d headers read alike", n)
}

// FuzzViewsMatchGopacket reads arbitrary bytes as each kind of header with the view
// and with gopacket.
func FuzzViewsMatchGopacket(f *testing.F) {
	for _, hs := range corpus(f) {
		for _, h := range hs {
			f.Add(h)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range kinds {
			if diff := compare(kind, b); diff != "" {
				t.Errorf("%v % x: %s", kind, b, diff)
			}
		}
	})
}
