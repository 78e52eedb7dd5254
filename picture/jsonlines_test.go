package picture

import (
	"bytes"
	"errors"
	"net/netip"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/timeline"
)

// runTimeline is a capture's timeline with one event of every other kind a run
// records, at the times of its frames, and a step recorded before the frame of its
// first instant, its frames added out of time order as a run's may be.
func runTimeline(t *testing.T, name string) *timeline.Timeline {
	t.Helper()
	capt := readCapture(t, name).Timeline()
	fs := capt.Frames()
	tl := timeline.New(capt.Start, capt.Endpoints)
	tl.Add(fs[0].Time, "", &timeline.Step{Action: "listen", Text: "s listen 198.18.1.1:80"})
	// A run adds frames as its captures hand them over: a ring block of one
	// interface may come after later frames of another. Here each interface's frames
	// come after all those of the interfaces after it.
	byIface := append([]timeline.Event(nil), fs...)
	sort.SliceStable(byIface, func(i, j int) bool { return byIface[i].Frame().Index > byIface[j].Frame().Index })
	for _, e := range byIface {
		f := e.Frame()
		tl.AddFrame(timeline.Captured{Time: e.Time, Index: f.Index, Data: f.Data, Out: f.Out, Line: []byte(f.Line)})
	}
	at := func(i int) time.Time { return fs[i%len(fs)].Time }
	a, b := netip.MustParseAddrPort("198.18.1.2:40000"), netip.MustParseAddrPort("198.18.1.1:80")
	kp := &timeline.KernelPacket{Src: a.Addr(), Dst: b.Addr(), Proto: 6, Length: 60, SrcPort: a.Port(), DstPort: b.Port(), Seq: 7, Ack: 9, Flags: header.TCPFlagRST | header.TCPFlagACK}
	tl.AddCall(timeline.Call{Start: at(0).Add(-1500 * time.Microsecond), Dur: 1500*time.Microsecond + 7, Node: "client", Sock: "c", Op: "connect", Args: b.String(), Ret: -1, Errno: syscall.ECONNREFUSED, Info: "local " + a.String()})
	tl.AddCall(timeline.Call{Start: at(1), Dur: 3 * time.Millisecond, Node: "server", Sock: "s", Op: "recv", Ret: 5, Data: []byte("hello")})
	events := []struct {
		node string
		d    timeline.Data
	}{
		{"client", &timeline.KernelState{Local: a, Remote: b, From: "SYN_SENT", To: "ESTABLISHED", Source: "tracepoint"}},
		{"client", &timeline.UserspaceState{Local: a, Remote: b, From: tcpstate.SynSent, To: tcpstate.Established, Cause: "RFC 9293 §3.10.7.3: SYN-ACK"}},
		{"router", &timeline.Verdict{ID: 3, Type: timeline.TracePolicy, Family: "inet", Table: "t", Chain: "fwd", Hook: "forward", Policy: "drop"}},
		{"router", &timeline.Verdict{ID: 4, Type: timeline.TraceRule, Family: "inet", Table: "t", Chain: "fwd", RuleHandle: 2, Rule: "tcp dport 80 accept", Verdict: "accept", Mark: 1}},
		{"router", &timeline.Conntrack{Type: "new", Proto: 6, Orig: timeline.Tuple{Src: a.Addr(), Dst: b.Addr(), SrcPort: a.Port(), DstPort: b.Port()}, Reply: timeline.Tuple{Src: b.Addr(), Dst: a.Addr(), SrcPort: b.Port(), DstPort: a.Port()}, State: "SYN_SENT", Timeout: 120 * time.Second}},
		{"", &timeline.Step{Action: "connect", Text: "c connect 198.18.1.1:80"}},
		{"client", &timeline.Note{Text: "a note"}},
		{"", &timeline.Outcome{Pass: false, Pos: "x.yaml:3:5", Where: "at the end", Want: "a SYN", Seen: "none"}},
		{"", &timeline.Outcome{Pass: true, Pos: "x.yaml:4:5", Where: "at the end", Want: "a FIN", Seen: "one"}},
		{"client", &timeline.Retransmit{Local: a, Remote: b, State: "ESTABLISHED", Seq: 1, EndSeq: 101, Flags: header.TCPFlagPSH | header.TCPFlagACK, CA: "Loss"}},
		{"server", &timeline.Reset{Sent: true, Local: b, Remote: a, Reason: "NO_SOCKET", Packet: kp}},
		{"server", &timeline.Drop{Reason: "NO_SOCKET", ReasonCode: 2, Location: 0xffff, Packet: kp, Local: b, Remote: a}},
		{"client", &timeline.CongestionSample{Local: a, Remote: b, CA: "Open", SndCwnd: 10, Ssthresh: 7, SRTT: 1234 * time.Microsecond, MSS: 1448}},
	}
	for i, e := range events {
		tl.Add(at(i), e.node, e.d)
	}
	return tl
}

// writeRunJSON writes a timeline as run --json does: the run record, the timeline's
// records with the frames' bytes, the result.
func writeRunJSON(t *testing.T, w *bytes.Buffer, tl *timeline.Timeline, file, comment, runErr string) {
	t.Helper()
	type runJSON struct {
		File    string `json:"file"`
		Comment string `json:"comment,omitempty"`
	}
	type resultJSON struct {
		File  string `json:"file"`
		Error string `json:"error,omitempty"`
	}
	recs := []timeline.Record{{Type: "run", Time: tl.Start, Body: runJSON{file, comment}}}
	for _, e := range tl.Events() {
		recs = append(recs, RunRecord(tl, e))
	}
	recs = append(recs, timeline.Record{Type: "result", Body: resultJSON{file, runErr}},
		timeline.Record{Type: "note", Body: timeline.Note{Text: "lab left up"}}, // the command's, not the run's
		timeline.Record{Type: "watch_thing", Body: map[string]int{"x": 1}})      // a type of a later pktlab
	for _, r := range recs {
		if err := timeline.WriteRecord(w, r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadRunRoundTrip: a run's JSON lines, read back, give the timeline the run had:
// written again they are the same lines, and the report drawn from them is the
// report of the run, byte for byte.
func TestReadRunRoundTrip(t *testing.T) {
	for _, name := range []string{"G1", "D3-us", "C5-us-us"} {
		t.Run(name, func(t *testing.T) {
			tl := runTimeline(t, name)
			var lines bytes.Buffer
			writeRunJSON(t, &lines, tl, "examples/"+name+".yaml", "the comment", "run failed: x")
			run, err := ReadRun(bytes.NewReader(lines.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			back := run.Frames.Timeline()
			var again bytes.Buffer
			writeRunJSON(t, &again, back, run.File, run.Comment, run.Error)
			if diff := cmp.Diff(strings.Split(lines.String(), "\n"), strings.Split(again.String(), "\n")); diff != "" {
				t.Errorf("JSON lines read and written again (-run's +read back):\n%s", diff)
			}
			want := reportOf(t, &Report{Title: "examples/" + name + ".yaml", Comment: "the comment", Error: "run failed: x", Diagram: FromTimeline(tl), Expectations: expectationsOf(tl)})
			got := reportOf(t, &Report{Title: run.File, Comment: run.Comment, Error: run.Error, Diagram: FromTimeline(back), Expectations: run.Expectations})
			if got != want {
				t.Errorf("the report from the JSON lines differs from the run's (-run's +from JSON):\n%s", cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")))
			}
			if len(run.Expectations) != 2 || run.Expectations[0].Pass || !run.Expectations[1].Pass {
				t.Errorf("expectations %+v, want the failed and the passed one", run.Expectations)
			}
		})
	}
}

func expectationsOf(tl *timeline.Timeline) []Expectation {
	var out []Expectation
	for _, e := range tl.Select(timeline.KindOutcome) {
		o := e.Data.(*timeline.Outcome)
		out = append(out, Expectation{Pos: o.Pos, Where: o.Where, Pass: o.Pass, Want: o.Want, Seen: o.Seen})
	}
	return out
}

func reportOf(t *testing.T, r *Report) string {
	t.Helper()
	var b strings.Builder
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestReadRunBadInput: what is not a run's JSON lines is refused with the line and
// the reason.
func TestReadRunBadInput(t *testing.T) {
	frame := `{"v":1,"type":"frame","time":"2026-12-04T18:52:01.006265Z","t":0.006,"node":"client","frame":{"interface":"client:eth0","dir":"out","length":60,"summary":"x"`
	tests := []struct {
		name, in string
		line     int
		want     string
	}{
		{"not JSON", "{\"v\":1,\"type\":\"run\",\"run\":{\"file\":\"a\"}}\nhello\n", 2, "not a JSON record"},
		{"not a record", "{\"a\":1}\n", 1, `no "v" or "type"`},
		{"version 2", "{\"v\":2,\"type\":\"run\",\"run\":{\"file\":\"a\"}}\n", 1, "schema version 2; this pktlab reads version 1"},
		{"no bytes", frame + "}}\n", 1, `without its bytes ("hex")`},
		{"bad hex", frame + `,"hex":"0g"}}` + "\n", 1, `"hex"`},
		{"two runs", "{\"v\":1,\"type\":\"run\",\"run\":{\"file\":\"a\"}}\n\n{\"v\":1,\"type\":\"run\",\"run\":{\"file\":\"b\"}}\n", 3, "a second run (b)"},
		{"bad state", `{"v":1,"type":"userspace_state","time":"2026-12-04T18:52:01Z","userspace_state":{"local":"198.18.1.1:1","remote":"","from":"NOPE","to":"CLOSED"}}` + "\n", 1, `"NOPE" is no RFC 9293 state`},
		{"bad errno", `{"v":1,"type":"call","time":"2026-12-04T18:52:01Z","call":{"op":"x","ret":-1,"errno":"EWHAT","dur_ms":0,"text":""}}` + "\n", 1, `errno "EWHAT"`},
		{"bad flags", `{"v":1,"type":"retransmit","time":"2026-12-04T18:52:01Z","retransmit":{"local":"198.18.1.1:1","remote":"198.18.1.2:2","flags":"SX"}}` + "\n", 1, `'X' is no flag`},
		{"empty", "\n\n", 2, "no JSON records"},
		{"long line", "{\"v\":1,\"type\":\"note\",\"note\":{\"text\":\"" + strings.Repeat("x", MaxJSONLine) + "\"}}\n", 1, "a line longer than 1024 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRun(strings.NewReader(tt.in))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tt.line || !strings.Contains(le.Msg, tt.want) {
				t.Errorf("error %v; want line %d: …%s…", err, tt.line, tt.want)
			}
		})
	}
}

// BenchmarkReadRun100k reads back the JSON lines of BenchmarkReport100k's 100 000
// frames (both copies of each, as run --json writes them) and rebuilds the timeline.
func BenchmarkReadRun100k(b *testing.B) {
	tl := bulk(b, 99_996, 100).Timeline()
	var lines bytes.Buffer
	for _, e := range tl.Events() {
		if err := timeline.WriteRecord(&lines, RunRecord(tl, e)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run, err := ReadRun(bytes.NewReader(lines.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		run.Frames.Timeline()
	}
	b.ReportMetric(float64(lines.Len())/float64(len(tl.Frames())), "json-bytes/frame")
}
