package header_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/rawsock/header"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"syn", header.TCPFlagSYN.String(), "S"},
		{"syn-ack", (header.TCPFlagSYN | header.TCPFlagACK).String(), "S."},
		{"every bit", header.TCPFlags(0xff).String(), "SFRPUEW."},
		{"no bit", header.TCPFlags(0).String(), "none"},
		{"nft", (header.TCPFlagSYN | header.TCPFlagACK).NftString(","), "syn,ack"},
		{"nft ecn cwr", (header.TCPFlagECE | header.TCPFlagCWR).NftString("|"), "ecn|cwr"},
		{"ethertype", header.EtherTypeIPv6.String(), "IPv6"},
		{"ethertype number", header.EtherType(0x88b5).String(), "0x88b5"},
		{"proto", header.IPProtocolICMPv6.String(), "icmp6"},
		{"proto number", header.IPProtocol(253).String(), "ip-proto-253"},
		{"icmp", header.ICMPv4TimeExceeded.String(), "time-exceeded"},
		{"icmp number", header.ICMPv4Type(42).String(), "42"},
		{"icmp code", header.ICMPv4FragNeeded.String(), "frag-needed"},
		{"icmp6", header.ICMPv6NeighborSolicit.String(), "nd-neighbor-solicit"},
		{"icmp6 code", header.ICMPv6PortUnreachable.String(), "port-unreachable"},
		{"option", header.TCPOptionSACKOK.String(), "sackOK"},
		{"option number", header.TCPOptionKind(99).String(), "unknown-99"},
		{"arp", header.ARPReply.String(), "reply"},
		{"option layout", header.TCPOptionsLinuxSYN.String(), "linux-syn"},
		{"option layout number", header.TCPOptionLayout(7).String(), "TCPOptionLayout(7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
	for name, f := range map[string]header.TCPFlags{"fin": header.TCPFlagFIN, "cwr": header.TCPFlagCWR} {
		if got, ok := header.ParseNftFlag(name); !ok || got != f {
			t.Errorf("ParseNftFlag(%q) = %v, %v; want %v", name, got, ok, f)
		}
	}
}

// TestTCPOptions walks an option list as Linux sends it on a SYN, then lists that
// end early or run past the header.
func TestTCPOptions(t *testing.T) {
	hdr := func(opts ...byte) header.TCP {
		b := make([]byte, 20, 20+len(opts))
		b[12] = byte(5+len(opts)/4) << 4
		return header.TCP(append(b, opts...))
	}
	syn := hdr(2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7)
	if _, err := header.ParseTCP(syn); err != nil {
		t.Fatal(err)
	}
	it := syn.Options()
	var kinds []header.TCPOptionKind
	for it.Next() {
		o := it.Option()
		kinds = append(kinds, o.Kind)
		switch o.Kind {
		case header.TCPOptionMSS:
			if v, ok := o.MSS(); !ok || v != 1460 {
				t.Errorf("MSS %d %v", v, ok)
			}
		case header.TCPOptionTimestamp:
			if val, ecr, ok := o.Timestamps(); !ok || val != 1 || ecr != 0 {
				t.Errorf("TS %d %d %v", val, ecr, ok)
			}
		case header.TCPOptionWScale:
			if v, ok := o.WScale(); !ok || v != 7 {
				t.Errorf("wscale %d %v", v, ok)
			}
		}
	}
	if it.Err() != nil || len(kinds) != 5 {
		t.Errorf("options %v, err %v", kinds, it.Err())
	}
	eol := hdr(2, 4, 5, 0xb4, 0, 9, 9, 9)
	it = eol.Options()
	n := 0
	for it.Next() {
		n++
	}
	if n != 2 || string(it.Padding()) != "\x09\x09\x09" {
		t.Errorf("EOL list: %d options, padding % x", n, it.Padding())
	}
	for _, bad := range []header.TCP{hdr(2, 4, 5, 0xb4, 8, 12, 0, 0), hdr(2, 1, 1, 1)} {
		it := bad.Options()
		for it.Next() {
		}
		if !errors.Is(it.Err(), header.ErrMalformed) {
			t.Errorf("% x: err %v, want ErrMalformed", bad[20:], it.Err())
		}
	}
	short := syn[:30]
	if _, err := header.ParseTCP(short); !errors.Is(err, header.ErrTruncated) {
		t.Errorf("header cut inside its options: %v, want ErrTruncated", err)
	}
}

// TestOptionLayout holds OptionLayout to the option iterator: Linux's two lists
// are told apart, and every list changed in one byte, or cut or padded, is a layout
// only when the iterator finds in it the options of that layout, each of its length.
func TestOptionLayout(t *testing.T) {
	hdr := func(opts []byte) header.TCP {
		b := make([]byte, 20, 20+len(opts))
		b[12] = byte(5+len(opts)/4) << 4
		return header.TCP(append(b, opts...))
	}
	want := map[header.TCPOptionLayout][]header.TCPOption{
		header.TCPOptionsLinuxSYN: {{Kind: header.TCPOptionMSS, Data: make([]byte, 2)}, {Kind: header.TCPOptionSACKOK, Data: []byte{}},
			{Kind: header.TCPOptionTimestamp, Data: make([]byte, 8)}, {Kind: header.TCPOptionNOP}, {Kind: header.TCPOptionWScale, Data: make([]byte, 1)}},
		header.TCPOptionsLinuxData: {{Kind: header.TCPOptionNOP}, {Kind: header.TCPOptionNOP}, {Kind: header.TCPOptionTimestamp, Data: make([]byte, 8)}},
	}
	// shape is the options' kinds and lengths, the way want lists them.
	shape := func(tcp header.TCP) []header.TCPOption {
		var out []header.TCPOption
		for it := tcp.Options(); it.Next(); {
			o := it.Option()
			out = append(out, header.TCPOption{Kind: o.Kind, Data: make([]byte, len(o.Data))})
			if o.Kind == header.TCPOptionNOP || o.Kind == header.TCPOptionEOL {
				out[len(out)-1].Data = nil
			}
		}
		return out
	}
	syn := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	data := []byte{1, 1, 8, 10, 0xf7, 0xd5, 0xd9, 0x0c, 0xc8, 0x34, 0x33, 0x1b}
	if got := hdr(syn).OptionLayout(); got != header.TCPOptionsLinuxSYN {
		t.Errorf("Linux's SYN options: %v", got)
	}
	if got := hdr(data).OptionLayout(); got != header.TCPOptionsLinuxData {
		t.Errorf("Linux's data options: %v", got)
	}
	var lists [][]byte
	for _, l := range [][]byte{syn, data} {
		for i := range l {
			for _, v := range []byte{0, 1, 2, 3, 4, 5, 8, 10, 12, 255} {
				m := bytes.Clone(l)
				m[i] = v
				lists = append(lists, m)
			}
		}
		lists = append(lists, l[:len(l)-4], append(bytes.Clone(l), 1, 1, 1, 1), append([]byte{1, 1, 1, 1}, l...))
	}
	for _, l := range lists {
		tcp := hdr(l)
		layout := tcp.OptionLayout()
		if layout == header.TCPOptionsOther {
			continue
		}
		if diff := cmp.Diff(want[layout], shape(tcp)); diff != "" {
			t.Errorf("% x is %v, but its options are not (-layout +iterator):\n%s", l, layout, diff)
		}
		if _, ok := tcp.CheckOptions(); !ok {
			t.Errorf("% x is %v, but CheckOptions refuses it", l, layout)
		}
	}
}
