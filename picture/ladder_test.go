package picture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/internal/golden"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/timeline"
)

// captures are pcapng files written by `pktlab run -w examples/NAME.yaml`.
var captures = []string{"C1", "E1", "C5-us-us", "G1", "D3", "D3-us", "B2"}

// readCapture collects the frames of a pcapng file in testdata.
func readCapture(t testing.TB, name string) *Collector {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := rawsock.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Collect(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLadderGolden draws the ladder of each capture at 80 columns and wide.
func TestLadderGolden(t *testing.T) {
	for _, name := range captures {
		for _, width := range []int{80, 132} {
			t.Run(name+"/"+strconv.Itoa(width), func(t *testing.T) {
				d := FromTimeline(readCapture(t, name).Timeline())
				var b bytes.Buffer
				if err := WriteLadder(&b, d, LadderOptions{Width: width}); err != nil {
					t.Fatal(err)
				}
				for i, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
					if n := len([]rune(l)); n > width {
						t.Errorf("line %d is %d columns wide, over %d: %q", i+1, n, width, l)
					}
				}
				golden.Check(t, filepath.Join("testdata", name+"."+strconv.Itoa(width)+".ladder"), b.Bytes())
			})
		}
	}
}

// TestLadderOneArrowPerFrame: every frame of a flow (or ICMP error quoting one) that the
// timeline shows once is one arrow of the ladder.
func TestLadderOneArrowPerFrame(t *testing.T) {
	for _, name := range captures {
		t.Run(name, func(t *testing.T) {
			tl := readCapture(t, name).Timeline()
			want := 0
			for _, e := range tl.Frames() {
				if f := e.Frame(); !f.Dup && (f.Flow > 0 || f.Packet.Inner != nil) {
					want++
				}
			}
			var b bytes.Buffer
			if err := WriteLadder(&b, FromTimeline(tl), LadderOptions{Width: 200}); err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, end := range []string{"->|", "|<-", " >|", "|< ", "-X|", "|X-"} {
				got += strings.Count(b.String(), end)
			}
			if got != want {
				t.Errorf("%d arrows, want %d (one per frame of a flow):\n%s", got, want, b.String())
			}
		})
	}
}

// TestCollectorPairsLinkEnds: the two ends of the veth in C1 are found from the frames
// alone, and the client's SYN goes from the client to the server.
func TestCollectorPairsLinkEnds(t *testing.T) {
	tl := readCapture(t, "C1").Timeline()
	var got []string
	for _, ep := range tl.Endpoints {
		peer := "-"
		if ep.Peer >= 0 {
			peer = tl.Endpoints[ep.Peer].String()
		}
		got = append(got, ep.String()+"="+peer)
	}
	if d := cmp.Diff([]string{"client:eth0=server:eth0", "server:eth0=client:eth0"}, got); d != "" {
		t.Errorf("peers (-want +got):\n%s", d)
	}
	d := FromTimeline(tl)
	for _, r := range d.Rows {
		if r.Kind == RowFrame && r.Frame.Packet.Flags.String() == "S" {
			if from, to := d.Lanes[r.From].Name, d.Lanes[r.To].Name; from != "client" || to != "server" {
				t.Errorf("SYN drawn from %s to %s, want client to server", from, to)
			}
			return
		}
	}
	t.Error("no SYN row")
}

// TestLadderLostFrame: a frame the far end of its link never recorded stops half way.
func TestLadderLostFrame(t *testing.T) {
	c := readCapture(t, "C1")
	// Take the server's copy of the SYN away: it was sent and never arrived.
	for i, f := range c.frames {
		p := timeline.Decode(f.Data)
		if p.Flags.String() == "S" && c.names[f.Iface] == "server:eth0" {
			c.frames = append(c.frames[:i], c.frames[i+1:]...)
			break
		}
	}
	var b bytes.Buffer
	if err := WriteLadder(&b, FromTimeline(c.Timeline()), LadderOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	var syn string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "SYN seq 0") {
			syn = l
		}
	}
	if !strings.Contains(syn, "LOST") || !strings.Contains(syn, "X ") || strings.Contains(syn, "->|") {
		t.Errorf("the lost SYN is not drawn stopping half way: %q\n%s", syn, b.String())
	}
}

// TestLadderOpenerOnTheLeft: the side that sent the bare SYN gets the left lane even
// when the SYN-ACK was stamped before the SYN (two interfaces' captures stamp
// frames apart; on a loaded machine the client was once drawn on the right, with
// every arrow reversed).
func TestLadderOpenerOnTheLeft(t *testing.T) {
	c := readCapture(t, "C1")
	var synAck time.Time
	for _, f := range c.frames {
		if timeline.Decode(f.Data).Flags.String() == "S." {
			synAck = f.Time
			break
		}
	}
	for i, f := range c.frames {
		if timeline.Decode(f.Data).Flags.String() == "S" {
			c.frames[i].Time = synAck.Add(time.Microsecond)
		}
	}
	var b bytes.Buffer
	if err := WriteLadder(&b, FromTimeline(c.Timeline()), LadderOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "client") && strings.Contains(l, "server") {
			if strings.Index(l, "client") > strings.Index(l, "server") {
				t.Errorf("lanes %q: the client, which sent the SYN, is not on the left\n%s", l, b.String())
			}
			break
		}
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "SYN seq 0") && !strings.Contains(l, "->|") {
			t.Errorf("the SYN is not drawn left to right: %q", l)
		}
	}
}

// TestLadderMarksRetransmissionAndDupAck: D3 drops one segment; its second sending is a
// retransmission and the SACK that asks for it a duplicate ACK.
func TestLadderMarksRetransmissionAndDupAck(t *testing.T) {
	d := FromTimeline(readCapture(t, "D3").Timeline())
	var re, dup []string
	for _, r := range d.Rows {
		if r.Retransmit {
			re = append(re, r.Label)
		}
		if r.DupAck > 0 {
			dup = append(dup, r.Label)
		}
	}
	if d := cmp.Diff([]string{"PSH seq 1001 ack 1 len 1000"}, re); d != "" {
		t.Errorf("retransmissions (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ack 1001 sack"}, dup); d != "" {
		t.Errorf("duplicate ACKs (-want +got):\n%s", d)
	}
}

// TestLadderMarksDeaths: in D3-us the router drops the second data segment once (the
// arrow into the router ends in an X), and forwards everything else; in B2 the router
// answers the too-big datagram with ICMP instead of forwarding it.
func TestLadderMarksDeaths(t *testing.T) {
	for _, c := range []struct {
		name string
		want []string
	}{
		{"D3-us", []string{"PSH seq 1001 ack 1 len 1000: not forwarded by router"}},
		{"B2", []string{"UDP len 1372: answered with frag needed mtu 1280"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := FromTimeline(readCapture(t, c.name).Timeline())
			var got []string
			for _, r := range d.Rows {
				if r.Drop != "" {
					got = append(got, r.Label+": "+r.Drop)
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("drops (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLadderNATJoinsFlows: G1's two sides of the SNAT are one ladder of three lanes.
func TestLadderNATJoinsFlows(t *testing.T) {
	d := FromTimeline(readCapture(t, "G1").Timeline())
	ls, err := d.ladders(0, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		t.Fatalf("%d ladders, want 1", len(ls))
	}
	var lanes []string
	for _, l := range ls[0].lanes {
		lanes = append(lanes, d.Lanes[l].Name)
	}
	if diff := cmp.Diff([]string{"client", "router", "server"}, lanes); diff != "" {
		t.Errorf("lanes (-want +got):\n%s", diff)
	}
	if _, err := d.ladders(9, false); err == nil {
		t.Error("--flow 9 of a two-flow capture: no error")
	}
}

func TestLabel(t *testing.T) {
	d := FromTimeline(readCapture(t, "E1").Timeline())
	var got []string
	for _, r := range d.Rows {
		if r.Kind == RowFrame && r.Flow > 0 {
			got = append(got, r.Label)
		}
	}
	want := []string{"SYN seq 0 mss 1460", "SYN-ACK seq 0 ack 1 mss 1460", "ack 1", "FIN seq 1 ack 1", "ack 2", "FIN seq 1 ack 2", "ack 2"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
}

func TestColorMode(t *testing.T) {
	for _, c := range []struct {
		mode     string
		terminal bool
		noColor  string
		want     bool
	}{
		{"auto", true, "", true},
		{"auto", false, "", false},
		{"auto", true, "1", false},
		{"always", false, "1", true},
		{"never", true, "", false},
	} {
		m, err := ParseColorMode(c.mode)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Use(c.terminal, c.noColor); got != c.want {
			t.Errorf("%s terminal=%v NO_COLOR=%q: %v, want %v", c.mode, c.terminal, c.noColor, got, c.want)
		}
	}
	if _, err := ParseColorMode("sometimes"); err == nil {
		t.Error("--color sometimes: no error")
	}
}

func TestColorTimeline(t *testing.T) {
	var b bytes.Buffer
	c := ColorTimeline(&b)
	io.WriteString(c, "   0.001922  ==  server l socket(AF_INET, tcp) = 17\n   0.002123 [f1] client:eth0 > server:eth0   IP\n   0.179517  !!  FAIL x\nplain")
	c.Flush()
	want := dim + "   0.001922" + reset + green + "  ==  server l socket(AF_INET, tcp) = 17" + reset + "\n" +
		dim + "   0.002123" + reset + " " + cyan + "[f1]" + reset + " client:eth0 > server:eth0   IP\n" +
		dim + "   0.179517" + reset + red + "  !!  FAIL x" + reset + "\nplain"
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if len([]rune(Legend)) > 80 {
		t.Errorf("the legend is %d columns, over 80", len([]rune(Legend)))
	}
}

// TestShortTextOneLine: a row of a program's call, whose output spans lines, is one
// line of the ladder.
func TestShortTextOneLine(t *testing.T) {
	r := Row{Kind: RowCall, Line: "nft exec(list ruleset) = 0 [table ip t {\n\tchain c {\n}\n] <3ms>"}
	if got, want := shortText(r), "nft exec(list ruleset) = 0 [table ip t { …"; got != want {
		t.Errorf("shortText = %q, want %q", got, want)
	}
}
