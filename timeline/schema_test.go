package timeline

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/jsonschema"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
)

// TestJSONMatchesSchema writes a timeline with a record of every kind and holds each
// line to the schema of docs/json.md; and every kind has its section there.
func TestJSONMatchesSchema(t *testing.T) {
	s, err := jsonschema.Load("../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	tl := handshake(t)
	at := tl.Start.Add(time.Millisecond)
	a, b := netip.MustParseAddrPort("198.18.1.2:40000"), netip.MustParseAddrPort("198.18.1.1:80")
	pkt := &KernelPacket{Src: a.Addr(), Dst: b.Addr(), Proto: 6, Length: 40, SrcPort: 40000, DstPort: 80, Flags: header.TCPFlagRST}
	for _, d := range []Data{
		&UserspaceState{Local: a, From: tcpstate.Listen, To: tcpstate.SynReceived, Cause: "SYN"},
		&Verdict{ID: 7, Type: TraceRule, Family: "inet", Table: "t", Chain: "c", Hook: "input", RuleHandle: 3, Rule: "tcp dport 80 drop", Verdict: "drop"},
		&Conntrack{Type: "new", Proto: 6, Orig: Tuple{a.Addr(), b.Addr(), 40000, 80}, Reply: Tuple{b.Addr(), a.Addr(), 80, 40000}, State: "SYN_SENT", Timeout: time.Minute},
		&Step{Action: "connect", Text: "client: connect c"},
		&Note{Text: "a note"},
		&Outcome{Pass: false, Pos: "f.yaml:1:2", Want: "x", Seen: "y"},
		&Retransmit{Local: a, Remote: b, State: "SYN_SENT", Seq: 1, EndSeq: 2, Flags: header.TCPFlagSYN, CA: "Loss"},
		&Reset{Sent: true, Local: b, Remote: a, Reason: "NO_SOCKET", Packet: pkt},
		&Drop{Reason: "NO_SOCKET", ReasonCode: 2, Location: 0xffff, Packet: pkt},
		&CongestionSample{Local: a, Remote: b, CA: "Open", SndCwnd: 10, SRTT: time.Millisecond},
	} {
		tl.Add(at, "client", d)
	}
	var out bytes.Buffer
	if err := tl.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.ValidateLines(out.Bytes()) {
		t.Error(err)
	}
	for k := KindFrame; k <= KindCongestion; k++ {
		if _, ok := s.Types[k.String()]; !ok {
			t.Errorf("docs/json.md has no section for %s records", k)
		}
	}
	// The validator is not one that passes everything.
	for _, bad := range []string{`{"v":1,"type":"note","note":{"text":"x","extra":1}}`, `{"v":2,"type":"note","note":{}}`,
		`{"v":1,"type":"frame","frame":{"length":"60","summary":""}}`, `{"v":1,"type":"nosuch","nosuch":{}}`, `{"v":1,"type":"note"}`} {
		if s.Validate([]byte(bad)) == nil {
			t.Errorf("%s passes the schema", bad)
		}
	}
}
