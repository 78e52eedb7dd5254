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
