package header_test

import (
	"errors"
	"testing"

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
