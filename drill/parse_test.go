package drill

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/rawsock/header"
)

// testdataScripts returns every script of testdata.
func testdataScripts(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.pkt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	return files
}

func TestDrillParseTestdata(t *testing.T) {
	for _, f := range testdataScripts(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(f, src)
			if strings.Contains(f, "bad-") {
				if err == nil {
					t.Fatal("bad script parsed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Events) == 0 {
				t.Fatal("no events")
			}
		})
	}
}

func u32(v uint32) *uint32 { return &v }

func TestDrillParseEvents(t *testing.T) {
	src := `--tolerance_usecs=10000
` + "`sysctl -q net.ipv4.tcp_sack=1`" + `
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.1~+0.2 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
0.300~0.400 < [ect0] P. 1:1001(1000) ack 1 win 257 <nop,nop,sack 1:2 3:4>
* > . 1:1(0) ack 1001 <...>
+0...0.5 accept(3, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)
+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 < icmp unreachable frag_needed mtu 1200 [1:1461(1460)]
+0 < udp (100)
+0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%
`
	s, err := Parse("x.pkt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Option{{Pos: Pos{"x.pkt", 1, 1}, Name: "tolerance_usecs", Value: "10000"}}, s.Options); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	ev := s.Events
	if len(ev) != 10 {
		t.Fatalf("%d events, want 10", len(ev))
	}
	if ev[0].Kind != EventShell || ev[0].Time.Kind != TimeNone || ev[0].Shell != "sysctl -q net.ipv4.tcp_sack=1" {
		t.Errorf("shell event %+v", ev[0])
	}
	want := Time{Kind: TimeRelative, Start: 100 * time.Millisecond, End: 200 * time.Millisecond, Range: true}
	if ev[2].Time != want {
		t.Errorf("range time %+v, want %+v", ev[2].Time, want)
	}
	syn := ev[2].Packet.TCP
	wantOpts := []TCPOption{{Kind: OptMSS, Value: 1460}, {Kind: OptSACKOK}, {Kind: OptTimestamp, TSVal: 100}, {Kind: OptNOP}, {Kind: OptWScale, Value: 7}}
	if diff := cmp.Diff(wantOpts, syn.Options); diff != "" || syn.Flags != header.TCPFlagSYN|header.TCPFlagACK || *syn.Ack != 1 {
		t.Errorf("SYN-ACK %+v options (-want +got):\n%s", syn, diff)
	}
	data := ev[3].Packet
	if data.ECN != "ect0" || data.TCP.Seq != 1 || data.TCP.Len != 1000 || *data.TCP.Win != 257 || ev[3].Time.End != 400*time.Millisecond {
		t.Errorf("data packet %+v %+v", data, data.TCP)
	}
	if b := data.TCP.Options[2].Blocks; len(b) != 2 || b[1] != [2]uint32{3, 4} {
		t.Errorf("sack blocks %v", b)
	}
	if ev[4].Time.Kind != TimeAny || !ev[4].Packet.TCP.AnyOpts {
		t.Errorf("any-time packet %+v", ev[4])
	}
	call := ev[5].Call
	if !call.EndSet || call.End != 500*time.Millisecond || call.Errno != "EAGAIN" || call.Ret.Int != -1 {
		t.Errorf("blocking call %+v", call)
	}
	if or := ev[6].Call.Args[2]; or.Kind != ExprOr || len(or.Elems) != 2 || or.Elems[1].Str != "O_NONBLOCK" {
		t.Errorf("fcntl flags %+v", or)
	}
	ic := ev[7].Packet.ICMP
	if ic.Type != "unreachable" || ic.Code != "frag_needed" || ic.MTU != 1200 || ic.Quoted.Len != 1460 {
		t.Errorf("icmp %+v", ic)
	}
	if ev[8].Packet.UDP.Len != 100 {
		t.Errorf("udp %+v", ev[8].Packet)
	}
	if len(ev[9].Code) != 1 || ev[9].Code[0].Src != "tcpi_snd_cwnd == 10" {
		t.Errorf("code %+v", ev[9].Code)
	}
}

func TestDrillParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no time", "socket(..., SOCK_STREAM, IPPROTO_TCP) = 3", "x.pkt:1:1: expected an event time"},
		{"bad flag", "0 < SX 0:0(0) win 1", "x.pkt:1:5: unknown TCP flag 'X'"},
		{"no win", "0 < S 0:0(0)\n", "x.pkt:2:1: an inbound TCP packet needs a window"},
		{"seq len", "0 < . 1:5(3) ack 1 win 9", "x.pkt:1:7: inconsistent segment: 1:5 is 4 bytes, not (3)"},
		{"unknown call", "0 frob(3) = 0", `x.pkt:1:3: unknown call "frob"`},
		{"arity", "0 close(3, 4) = 0", "x.pkt:1:3: close takes 1 arguments, not 2"},
		{"errno", "0 close(3) = -1 EBOGUS", "x.pkt:1:17: unknown errno EBOGUS"},
		{"errno ret", "0 close(3) = 0 EBADF", "x.pkt:1:14: an errno goes with the result -1"},
		{"option", "--bogus=1\n", "x.pkt:1:1: unknown option --bogus"},
		{"late option", "0 close(3) = 0\n--mss=1000", "x.pkt:2:1: option --mss after the first event"},
		{"range", "0.2~0.1 close(3) = 0", "x.pkt:1:1: time range ends before it starts"},
		{"decimals", "0.1234567 close(3) = 0", "x.pkt:1:1: time 0.1234567: at most 6 decimals"},
		{"tcp option", "0 > S 0:0(0) <mss 1460,bogus>", `x.pkt:1:24: unknown TCP option "bogus"`},
		{"win range", "0 < S 0:0(0) win 65536", "x.pkt:1:18: win 65536 is over 65535"},
		{"assert stmt", "0 %{\nprint(1)\n}%", "x.pkt:2:1: only `assert EXPR[, message]` lines"},
		{"assert name", "0 %{ assert tcpi_bogus == 1 }%", "x.pkt:1:13: unknown name tcpi_bogus"},
		{"comment", "/* no end", "x.pkt:1:1: comment /* is never closed"},
		{"string", `0 setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, "cubic, 5) = 0`, `x.pkt:1:46: string is never closed`},
		{"constant", "0 fcntl(3, F_BOGUS) = 0", "x.pkt:1:12: unknown constant F_BOGUS"},
		{"depth", "0 close(" + strings.Repeat("[", 40) + ") = 0", "nested more than 16 deep"},
		{"char", "0 close(3) = 0 $", "x.pkt:1:16: unexpected character '$'"},
		{"icmp type", "0 < icmp bogus", `x.pkt:1:10: unknown ICMP type "bogus"`},
		{"sack", "0 < . 1:1(0) ack 1 win 1 <sack>", "x.pkt:1:31: sack needs at least one block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.pkt", []byte(tc.src))
			if err == nil {
				t.Fatalf("parsed; want error %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, not *Error", err)
			}
		})
	}
}

// TestDrillParseBounds: the event limit is an error with a position, and a script at
// the limit parses (one pass, one token of lookahead: no backtracking to blow up).
func TestDrillParseBounds(t *testing.T) {
	line := "+0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 1 ecr 2>\n"
	src := []byte(strings.Repeat(line, MaxEvents))
	s, err := Parse("big.pkt", src)
	if err != nil || len(s.Events) != MaxEvents {
		t.Fatalf("%d events: %v", MaxEvents, err)
	}
	_, err = Parse("big.pkt", append(src, line...))
	want := fmt.Sprintf("big.pkt:%d:1: more than %d events in one script", MaxEvents+1, MaxEvents)
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestDrillAssertEval(t *testing.T) {
	vals := map[string]float64{"tcpi_snd_cwnd": 10, "tcpi_rto": 300000, "tcpi_options": 7}
	get := func(n string) (float64, bool) { v, ok := vals[n]; return v, ok }
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"tcpi_snd_cwnd == 10", true},
		{"tcpi_snd_cwnd != 10", false},
		{"200000 <= tcpi_rto <= 400000", true},
		{"tcpi_rto // 1000 == 300", true},
		{"tcpi_rto / 7 > 42857 and tcpi_rto % 7 == 1", true},
		{"tcpi_options & TCPI_OPT_SACK != 0", true},
		{"tcpi_options & TCPI_OPT_ECN", false},
		{"not (tcpi_snd_cwnd > 5) or -tcpi_snd_cwnd == -10", true},
		{"(tcpi_snd_cwnd + 2) * 3 - 1 == 35", true},
		{"1 << 3 | 1 == 9", true},
	} {
		t.Run(tc.src, func(t *testing.T) {
			as := parseAssertsFor(t, tc.src)
			got, _, err := as.Eval(get)
			if err != nil || got != tc.want {
				t.Errorf("Eval = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func parseAssertsFor(t *testing.T, expr string) *Assert {
	t.Helper()
	s, err := Parse("a.pkt", []byte("0 %{ assert "+expr+", 'msg' }%"))
	if err != nil {
		t.Fatal(err)
	}
	return s.Events[0].Code[0]
}
