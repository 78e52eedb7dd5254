package filter

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// traceMsg encodes an NFT_MSG_TRACE attribute payload as the kernel does
// (net/netfilter/nf_tables_trace.c nft_trace_notify).
func traceMsg(t testing.TB, verdict int32, chain string) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.String(unix.NFTA_TRACE_TABLE, "f1")
	ae.String(unix.NFTA_TRACE_CHAIN, "in")
	ae.Uint32(unix.NFTA_TRACE_ID, 0x1a2b3c4d)
	ae.Uint32(unix.NFTA_TRACE_TYPE, unix.NFT_TRACETYPE_RULE)
	ae.Uint64(unix.NFTA_TRACE_RULE_HANDLE, 7)
	ae.Nested(unix.NFTA_TRACE_VERDICT, func(nae *netlink.AttributeEncoder) error {
		nae.ByteOrder = binary.BigEndian
		nae.Uint32(unix.NFTA_VERDICT_CODE, uint32(verdict))
		if chain != "" {
			nae.String(unix.NFTA_VERDICT_CHAIN, chain)
		}
		return nil
	})
	ae.Uint32(unix.NFTA_TRACE_IIF, 2)
	ae.Uint32(unix.NFTA_TRACE_MARK, 5)
	ae.Uint32(unix.NFTA_TRACE_NFPROTO, 2)
	ae.Bytes(unix.NFTA_TRACE_NETWORK_HEADER, []byte{0x45, 0, 0, 20})
	ae.Bytes(unix.NFTA_TRACE_TRANSPORT_HEADER, []byte{0x1b, 0x59, 0x1b, 0x59})
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTrace(t *testing.T) {
	tests := []struct {
		name    string
		code    int32
		chain   string
		verdict string
	}{
		{"accept", 1, "", "accept"},
		{"drop", 0, "", "drop"},
		{"continue", -1, "", "continue"},
		{"jump", -3, "other", "jump other"},
		{"goto", -4, "other", "goto other"},
		{"return", -5, "", "return"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeTrace(unix.NFPROTO_INET, traceMsg(t, tc.code, tc.chain))
			if err != nil {
				t.Fatal(err)
			}
			want := TraceEvent{ID: 0x1a2b3c4d, Type: TraceRule, Family: FamilyINet, Table: "f1", Chain: "in", RuleHandle: 7,
				Verdict: tc.verdict, IIF: 2, Mark: 5, NFProto: 2,
				NetworkHeader: []byte{0x45, 0, 0, 20}, TransportHeader: []byte{0x1b, 0x59, 0x1b, 0x59}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestGroupPaths(t *testing.T) {
	evs := []TraceEvent{
		{ID: 1, Hook: "prerouting", Type: TraceRule, Verdict: "continue"},
		{ID: 2, Hook: "output", Type: TracePolicy, Policy: "accept"},
		{ID: 1, Hook: "prerouting", Type: TracePolicy, Policy: "accept"},
		{ID: 1, Hook: "forward", Type: TraceRule, Verdict: "drop"},
	}
	paths := GroupPaths(evs)
	type summary struct {
		ID    uint32
		Hooks []string
		Final string
	}
	var got []summary
	for _, p := range paths {
		got = append(got, summary{p.ID, p.Hooks(), p.Final()})
	}
	want := []summary{{1, []string{"prerouting", "forward"}, "drop"}, {2, []string{"output"}, "accept"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzDecodeTrace: the trace decoder never panics on what a socket may deliver.
func FuzzDecodeTrace(f *testing.F) {
	f.Add(traceMsg(f, 1, ""))
	f.Add(traceMsg(f, -3, "other"))
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeTrace(unix.NFPROTO_IPV4, b)
	})
}

// TestTraceEventString: lines as `nft monitor trace` (nftables 1.0.6) printed them for
// the same packet in a lab, with pktlab's hook after the chain.
func TestTraceEventString(t *testing.T) {
	ll := []byte{0x02, 0x0e, 0x12, 0xde, 0x5c, 0x5b, 0x02, 0xc3, 0xcc, 0x4c, 0x51, 0xfc, 0x08, 0x00}
	ip := []byte{0x45, 0, 0, 29, 0x20, 0x56, 0x40, 0, 63, 17, 0, 0, 198, 18, 1, 2, 198, 19, 2, 2}
	udp := []byte{0xa6, 0x85, 0x14, 0xe9, 0, 9, 0, 0}
	base := TraceEvent{ID: 0xa177b887, Family: FamilyIP, Table: "demo", Chain: "forward", Hook: "forward"}
	tests := []struct {
		name   string
		edit   func(e *TraceEvent)
		packet string
		line   string
	}{
		{"rule with headers", func(e *TraceEvent) {
			e.Type, e.RuleHandle, e.Rule, e.Verdict = TraceRule, 2, "ip saddr 198.18.1.2 jump sub", "jump sub"
			e.IIFName, e.OIFName, e.LLHeader, e.NetworkHeader, e.TransportHeader = "eth0", "eth1", ll, ip, udp
		},
			`trace id a177b887 ip demo forward packet: iif "eth0" oif "eth1" ether saddr 02:c3:cc:4c:51:fc ether daddr 02:0e:12:de:5c:5b ip saddr 198.18.1.2 ip daddr 198.19.2.2 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 8278 ip protocol udp ip length 29 udp sport 42629 udp dport 5353 udp length 9`,
			"trace id a177b887 ip demo forward (forward) rule ip saddr 198.18.1.2 jump sub (verdict jump sub)"},
		{"rule not in the ruleset", func(e *TraceEvent) {
			e.Type, e.RuleHandle, e.Verdict, e.Mark = TraceRule, 3, "continue", 0x2a
		}, "", "trace id a177b887 ip demo forward (forward) unknown rule handle 3 (verdict continue)"},
		{"policy with mark", func(e *TraceEvent) {
			e.Type, e.Policy, e.Mark = TracePolicy, "drop", 0x2a
		}, "", "trace id a177b887 ip demo forward (forward) policy drop meta mark 0x0000002a"},
		{"return", func(e *TraceEvent) {
			e.Type, e.Verdict = TraceReturn, "return"
		}, "", "trace id a177b887 ip demo forward (forward) verdict return"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			tc.edit(&e)
			if diff := cmp.Diff(tc.packet, e.PacketString()); diff != "" {
				t.Errorf("PacketString (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.line, e.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPacketStringTCP: a SYN-ACK's flags by name, where nft 1.0.6 prints 0x12.
func TestPacketStringTCP(t *testing.T) {
	ip := []byte{0x45, 0x10, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 19, 2, 2, 198, 18, 1, 2}
	tcp := []byte{0, 81, 0xc3, 0xea, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x12, 0xfa, 0xf0, 0, 0, 0, 0}
	e := TraceEvent{ID: 1, Family: FamilyINet, Table: "t", Chain: "pre", IIF: 3, NetworkHeader: ip, TransportHeader: tcp}
	want := "trace id 00000001 inet t pre packet: iif 3 ip saddr 198.19.2.2 ip daddr 198.18.1.2 ip dscp 0x04 ip ecn not-ect ip ttl 64 ip id 0 ip protocol tcp ip length 40 tcp sport 81 tcp dport 50154 tcp flags == syn|ack tcp window 64240"
	if diff := cmp.Diff(want, e.PacketString()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
