package filter

import (
	"fmt"
	"strings"

	"github.com/pktlab/pktlab/rawsock/header"
)

// PacketString renders the headers a trace event carries like the "packet:" line of
// `nft monitor trace` (nft's src/netlink.c trace_print_packet): interfaces, then the
// link, network and transport header fields in nft syntax. The kernel copies the
// headers into the first event of each base chain a packet meets (nf_tables_trace.c,
// packet_dumped), so most events return "". Fields pktlab does not decode are left out,
// and so are nft's dependency quirks (it drops "ip protocol" in ip tables) and the
// "@th,..." payload remainder it sometimes adds.
func (e TraceEvent) PacketString() string {
	if len(e.LLHeader) == 0 && len(e.NetworkHeader) == 0 && len(e.TransportHeader) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "trace id %08x %s %s %s packet:", e.ID, e.Family, e.Table, e.Chain)
	if e.IIFName != "" {
		fmt.Fprintf(&b, " iif %q", e.IIFName)
	} else if e.IIF != 0 {
		fmt.Fprintf(&b, " iif %d", e.IIF)
	}
	if e.OIFName != "" {
		fmt.Fprintf(&b, " oif %q", e.OIFName)
	} else if e.OIF != 0 {
		fmt.Fprintf(&b, " oif %d", e.OIF)
	}
	if ll, err := header.ParseEthernet(e.LLHeader); err == nil && len(ll) == header.EthernetLen {
		fmt.Fprintf(&b, " ether saddr %s ether daddr %s", ll.Src(), ll.Dst())
	}
	proto := -1
	if nh := e.NetworkHeader; len(nh) > 0 {
		switch nh[0] >> 4 {
		case 4:
			proto = ip4String(&b, nh)
		case 6:
			proto = ip6String(&b, nh)
		}
	}
	if proto >= 0 {
		l4String(&b, proto, e.TransportHeader)
	}
	return b.String()
}

// dscpNames are nft's names for DSCP values (src/proto.c dscp_type); others print as
// a number.
var dscpNames = map[byte]string{
	0x00: "cs0", 0x08: "cs1", 0x10: "cs2", 0x18: "cs3", 0x20: "cs4", 0x28: "cs5", 0x30: "cs6", 0x38: "cs7",
	0x0a: "af11", 0x0c: "af12", 0x0e: "af13", 0x12: "af21", 0x14: "af22", 0x16: "af23",
	0x1a: "af31", 0x1c: "af32", 0x1e: "af33", 0x22: "af41", 0x24: "af42", 0x26: "af43",
	0x01: "lephb", 0x2c: "va", 0x2e: "ef",
}

var ecnNames = [4]string{"not-ect", "ect1", "ect0", "ce"}

func dscpString(tc byte) string {
	if s, ok := dscpNames[tc>>2]; ok {
		return s
	}
	return fmt.Sprintf("0x%02x", tc>>2)
}

// ip4String writes the IPv4 header fields (RFC 791 §3.1) and returns the protocol, or
// -1 when the header is short. The kernel copies the header without its payload, so
// the fixed header is all that is checked.
func ip4String(b *strings.Builder, h []byte) int {
	if len(h) < header.IPv4MinLen {
		return -1
	}
	ip := header.IPv4(h)
	fmt.Fprintf(b, " ip saddr %s ip daddr %s ip dscp %s ip ecn %s ip ttl %d ip id %d ip protocol %s ip length %d",
		ip.Src(), ip.Dst(), dscpString(ip.TOS()), ecnNames[ip.ECN()], ip.TTL(), ip.ID(), protoName(byte(ip.Protocol())), ip.TotalLength())
	return int(ip.Protocol())
}

// ip6String writes the IPv6 header fields (RFC 8200 §3) and returns the next header,
// or -1 when the header is short.
func ip6String(b *strings.Builder, h []byte) int {
	if len(h) < header.IPv6Len {
		return -1
	}
	ip := header.IPv6(h)
	tc := ip.TrafficClass()
	fmt.Fprintf(b, " ip6 saddr %s ip6 daddr %s ip6 dscp %s ip6 ecn %s ip6 flowlabel %d ip6 nexthdr %s ip6 length %d ip6 hoplimit %d",
		ip.Src(), ip.Dst(), dscpString(tc), ecnNames[ip.ECN()], ip.FlowLabel(), protoName(byte(ip.NextHeader())), ip.PayloadLength(), ip.HopLimit())
	return int(ip.NextHeader())
}

var l4Names = map[byte]string{1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite", 47: "gre", 50: "esp", 51: "ah"}

func protoName(p byte) string {
	if s, ok := l4Names[p]; ok {
		return s
	}
	return fmt.Sprint(p)
}

var icmpTypes = map[byte]string{0: "echo-reply", 3: "destination-unreachable", 5: "redirect", 8: "echo-request", 11: "time-exceeded", 12: "parameter-problem"}
var icmp6Types = map[byte]string{1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 128: "echo-request", 129: "echo-reply",
	133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit", 136: "nd-neighbor-advert"}

// l4String writes the transport header fields of the protocols pktlab's rules match.
func l4String(b *strings.Builder, proto int, h []byte) {
	switch {
	case proto == 6 && len(h) >= header.TCPMinLen: // RFC 9293 §3.1
		// nft 1.0.6 prints a flag combination as a number (0x12); names joined by
		// "|" say the same and parse back as nft syntax.
		t := header.TCP(h)
		fmt.Fprintf(b, " tcp sport %d tcp dport %d tcp flags == %s tcp window %d",
			t.SrcPort(), t.DstPort(), t.Flags().NftString("|"), t.Window())
	case proto == 17 && len(h) >= header.UDPLen: // RFC 768
		u := header.UDP(h)
		fmt.Fprintf(b, " udp sport %d udp dport %d udp length %d", u.SrcPort(), u.DstPort(), u.Length())
	case (proto == 1 || proto == 58) && len(h) >= 4: // RFC 792, RFC 4443 §2.1
		kw, names := "icmp", icmpTypes
		if proto == 58 {
			kw, names = "icmpv6", icmp6Types
		}
		typ := fmt.Sprint(h[0])
		if s, ok := names[h[0]]; ok {
			typ = s
		}
		fmt.Fprintf(b, " %s type %s %s code %d", kw, typ, kw, h[1])
		if echo := proto == 1 && (h[0] == 0 || h[0] == 8) || proto == 58 && (h[0] == 128 || h[0] == 129); echo && len(h) >= header.ICMPv4MinLen {
			m := header.ICMPv4(h) // echo id and sequence sit alike in ICMPv6 (RFC 4443 §4.1)
			fmt.Fprintf(b, " %s id %d %s sequence %d", kw, m.ID(), kw, m.Seq())
		}
	}
}
