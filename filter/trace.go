package filter

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/pktlab/pktlab/internal/enumname"
	"github.com/pktlab/pktlab/timeline"
	"golang.org/x/sys/unix"
)

// TraceType says why the kernel emitted a trace event (enum nft_trace_types,
// include/uapi/linux/netfilter/nf_tables.h).
type TraceType uint32

// Trace event types.
const (
	TraceRule   TraceType = unix.NFT_TRACETYPE_RULE
	TraceReturn TraceType = unix.NFT_TRACETYPE_RETURN
	TracePolicy TraceType = unix.NFT_TRACETYPE_POLICY
)

var traceTypeNames = [...]string{TraceRule: "rule", TraceReturn: "return", TracePolicy: "policy"}

func (t TraceType) String() string {
	return enumname.Name(t, traceTypeNames[:], "tracetype(%d)")
}

// Verdict codes carried in NFTA_VERDICT_CODE (netfilter.h NF_*, nf_tables.h NFT_*).
const (
	nfDrop      = 0
	nfAccept    = 1
	nftContinue = -1
	nftBreak    = -2
	nftJump     = -3
	nftGoto     = -4
	nftReturn   = -5
)

// TraceEvent is one nftables trace message: a traced packet met a rule, returned from
// a chain, or reached a base chain's policy.
type TraceEvent struct {
	// Time is when pktlab received the event.
	Time time.Time `json:"time"`
	// ID identifies the packet: every event of one packet, across hooks, has the
	// same ID (kernel nft_trace_init derives it from the skb).
	ID     uint32    `json:"id"`
	Type   TraceType `json:"type"`
	Family Family    `json:"family"`
	Table  string    `json:"table"`
	Chain  string    `json:"chain"`
	// Hook is resolved by pktlab from the chain (the kernel does not send it); for a
	// regular chain it is the hook of the base chain the packet came from.
	Hook       string `json:"hook,omitempty"`
	RuleHandle uint64 `json:"rule_handle,omitempty"`
	// Rule is the rule's text in canonical nft syntax, when pktlab could read it.
	Rule string `json:"rule,omitempty"`
	// Verdict is accept, drop, continue, jump CHAIN, goto CHAIN or return; empty when
	// the kernel sent none.
	Verdict string `json:"verdict,omitempty"`
	// Policy is the base chain policy applied (TracePolicy events).
	Policy  string `json:"policy,omitempty"`
	IIF     int    `json:"iif,omitempty"`
	OIF     int    `json:"oif,omitempty"`
	IIFName string `json:"iifname,omitempty"`
	OIFName string `json:"oifname,omitempty"`
	Mark    uint32 `json:"mark,omitempty"`
	NFProto uint32 `json:"nfproto,omitempty"`
	// Headers as the kernel copied them (link, network and transport).
	LLHeader        []byte `json:"ll_header,omitempty"`
	NetworkHeader   []byte `json:"network_header,omitempty"`
	TransportHeader []byte `json:"transport_header,omitempty"`
}

// TypeName is the event type as text, for JSON and tables.
func (e TraceEvent) TypeName() string { return e.Type.String() }

// String renders the event like `nft monitor trace` does (nft's src/netlink.c
// netlink_events_trace_cb), with the hook added after the chain: "rule TEXT (verdict
// V)" ("unknown rule handle N" when the rule is gone from the node), "policy P" or
// "verdict V", the mark on policy and return lines. The headers, interfaces and mark of
// nft's "packet:" line are in PacketString.
func (e TraceEvent) String() string {
	return fmt.Sprintf("trace id %08x %s", e.ID, e.Record())
}

// Record is the event as the timeline records it.
func (e TraceEvent) Record() *timeline.Verdict {
	v := &timeline.Verdict{ID: e.ID, Family: e.Family.String(), Table: e.Table, Chain: e.Chain, Hook: e.Hook,
		RuleHandle: e.RuleHandle, Rule: e.Rule, Verdict: e.Verdict, Policy: e.Policy, Mark: e.Mark}
	switch e.Type {
	case TraceRule:
		v.Type = timeline.TraceRule
	case TraceReturn:
		v.Type = timeline.TraceReturn
	case TracePolicy:
		v.Type = timeline.TracePolicy
	}
	return v
}

// DecodeTrace decodes the attributes of an NFT_MSG_TRACE message (after the 4-byte
// nfgenmsg header, whose family byte is fam).
func DecodeTrace(fam byte, attrs []byte) (TraceEvent, error) {
	e := TraceEvent{Family: Family(fam)}
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return e, fmt.Errorf("filter: decode trace: %w", err)
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_TRACE_TABLE:
			e.Table = ad.String()
		case unix.NFTA_TRACE_CHAIN:
			e.Chain = ad.String()
		case unix.NFTA_TRACE_RULE_HANDLE:
			e.RuleHandle = ad.Uint64()
		case unix.NFTA_TRACE_TYPE:
			e.Type = TraceType(ad.Uint32())
		case unix.NFTA_TRACE_VERDICT:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				nad.ByteOrder = binary.BigEndian
				var code int32
				var chain string
				for nad.Next() {
					switch nad.Type() {
					case unix.NFTA_VERDICT_CODE:
						code = int32(nad.Uint32())
					case unix.NFTA_VERDICT_CHAIN:
						chain = nad.String()
					}
				}
				e.Verdict = verdictName(code, chain)
				return nil
			})
		case unix.NFTA_TRACE_ID:
			e.ID = ad.Uint32()
		case unix.NFTA_TRACE_LL_HEADER:
			e.LLHeader = append([]byte(nil), ad.Bytes()...)
		case unix.NFTA_TRACE_NETWORK_HEADER:
			e.NetworkHeader = append([]byte(nil), ad.Bytes()...)
		case unix.NFTA_TRACE_TRANSPORT_HEADER:
			e.TransportHeader = append([]byte(nil), ad.Bytes()...)
		case unix.NFTA_TRACE_IIF:
			e.IIF = int(ad.Uint32())
		case unix.NFTA_TRACE_OIF:
			e.OIF = int(ad.Uint32())
		case unix.NFTA_TRACE_MARK:
			e.Mark = ad.Uint32()
		case unix.NFTA_TRACE_NFPROTO:
			e.NFProto = ad.Uint32()
		case unix.NFTA_TRACE_POLICY:
			e.Policy = verdictName(int32(ad.Uint32()), "")
		}
	}
	if err := ad.Err(); err != nil {
		return e, fmt.Errorf("filter: decode trace: %w", err)
	}
	return e, nil
}

func verdictName(code int32, chain string) string {
	switch code {
	case nfDrop:
		return "drop"
	case nfAccept:
		return "accept"
	case nftContinue:
		return "continue"
	case nftBreak:
		return "break"
	case nftJump:
		return "jump " + chain
	case nftGoto:
		return "goto " + chain
	case nftReturn:
		return "return"
	}
	return fmt.Sprintf("verdict(%d)", code)
}

// Path is the ordered list of trace events of one packet.
type Path struct {
	ID     uint32       `json:"id"`
	Events []TraceEvent `json:"events"`
}

// record is the path as the timeline records it.
func (p Path) record() timeline.Path {
	out := timeline.Path{ID: p.ID}
	for _, e := range p.Events {
		out.Verdicts = append(out.Verdicts, e.Record())
	}
	return out
}

// Hooks returns the hooks the packet went through, in order, without repeats.
func (p Path) Hooks() []string { return p.record().Hooks() }

// Final returns the verdict that ended the packet's last hook: the policy or the last
// accept/drop verdict.
func (p Path) Final() string { return p.record().Final() }

// GroupPaths groups events by packet, keeping the order in which packets first
// appeared and the order of events within each packet.
func GroupPaths(events []TraceEvent) []Path {
	vs := make([]*timeline.Verdict, len(events))
	of := map[*timeline.Verdict]int{}
	for i, e := range events {
		vs[i] = e.Record()
		of[vs[i]] = i
	}
	var out []Path
	for _, tp := range timeline.Paths(vs) {
		p := Path{ID: tp.ID}
		for _, v := range tp.Verdicts {
			p.Events = append(p.Events, events[of[v]])
		}
		out = append(out, p)
	}
	return out
}

// MarshalText makes a TraceType print as its name in JSON.
func (t TraceType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }
