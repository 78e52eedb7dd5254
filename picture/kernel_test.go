package picture

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/golden"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/timeline"
)

// d3WithKernel is D3's capture with the kernel events a run of D3 records beside
// it (ktrace's, as `pktlab run examples/D3.yaml` shows them): the client's
// CLOSE → SYN_SENT, the server's nftables drop of the second data segment, the
// client's fast retransmission of it, a free of the last ACK after the client took
// it (TCP_OLD_DATA: no death of a frame); and three the flow's ladder must leave out: a
// queue purge of no packet and no socket and a drop of link-local chatter (no row
// at all), and a drop of another connection's segment.
func d3WithKernel(t *testing.T) *Collector {
	t.Helper()
	c := readCapture(t, "D3")
	var seg, re *timeline.Event
	evs := c.Timeline().Frames()
	for i := range evs {
		f := evs[i].Frame()
		if f.Dup || f.Packet.PayloadLen == 0 || f.RelSeq != 1001 {
			continue
		}
		if seg == nil {
			seg = &evs[i]
		} else {
			re = &evs[i]
		}
	}
	if seg == nil || re == nil {
		t.Fatal("D3's capture lacks the segment at relative seq 1001 and its retransmission")
	}
	p := &seg.Frame().Packet
	client, server := netip.AddrPortFrom(p.Src, uint16(p.SPort)), netip.AddrPortFrom(p.Dst, uint16(p.DPort))
	kp := &timeline.KernelPacket{Src: p.Src, Dst: p.Dst, Proto: 6, SrcPort: uint16(p.SPort), DstPort: uint16(p.DPort), Seq: p.Seq, Ack: p.Ack, Flags: p.Flags}
	other := *kp
	other.SrcPort++
	first := c.Timeline().Frames()[0].Time
	add := func(at time.Time, node string, d timeline.Data) {
		if err := c.AddEvent(at, node, d); err != nil {
			t.Fatal(err)
		}
	}
	add(first.Add(-10*time.Microsecond), "client", &timeline.KernelState{Local: client, Remote: server, From: "CLOSE", To: "SYN_SENT", Source: "tracepoint"})
	add(seg.Time.Add(19*time.Microsecond), "server", &timeline.Drop{Reason: "NETFILTER_DROP", Packet: kp})
	add(seg.Time.Add(30*time.Microsecond), "server", &timeline.Drop{Reason: "QUEUE_PURGE"})
	add(seg.Time.Add(40*time.Microsecond), "server", &timeline.Drop{Reason: "NO_SOCKET", Packet: &other})
	mld := &timeline.KernelPacket{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::16"), Proto: 58}
	add(seg.Time.Add(50*time.Microsecond), "server", &timeline.Drop{Reason: "IPV6DISABLED", Packet: mld})
	last := evs[len(evs)-1] // the server's ack 3001
	lp := &last.Frame().Packet
	add(last.Time.Add(15*time.Microsecond), "client", &timeline.Drop{Reason: "TCP_OLD_DATA", Packet: &timeline.KernelPacket{Src: lp.Src, Dst: lp.Dst, Proto: 6,
		SrcPort: uint16(lp.SPort), DstPort: uint16(lp.DPort), Seq: lp.Seq, Ack: lp.Ack, Flags: lp.Flags}})
	rp := &re.Frame().Packet
	add(re.Time.Add(11*time.Microsecond), "client", &timeline.Retransmit{Local: client, Remote: server, State: "ESTABLISHED",
		Seq: rp.Seq, EndSeq: rp.Seq + uint32(rp.PayloadLen), Flags: header.TCPFlagPSH | header.TCPFlagACK, CA: "Recovery"})
	return c
}

// TestLadderKernelRows: the kernel's events of a flow are rows of its ladder, in
// time order, each beside the lane of the node it happened in (the drop beside
// the server's, whose arrow ends in an X; the retransmission beside the client's),
// in a few words with the arrows' relative numbers; the key names them; events of
// no packet or of another connection are left out.
func TestLadderKernelRows(t *testing.T) {
	for _, width := range []int{80, 132} {
		d := FromTimeline(d3WithKernel(t).Timeline())
		var b bytes.Buffer
		if err := WriteLadder(&b, d, LadderOptions{Width: width}); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", "D3-kernel."+strconv.Itoa(width)+".ladder"), b.Bytes())
		lines := strings.Split(b.String(), "\n")
		if !strings.HasPrefix(lines[0], "key: ") || !strings.Contains(lines[0], "kt kernel: retransmit, RST, drop") {
			t.Errorf("the key does not name the kernel's rows: %q", lines[0])
		}
		var bars string
		var times []string
		find := func(text string) (line, prev string) {
			for i, l := range lines {
				if strings.Contains(l, text) {
					return l, lines[i-1]
				}
			}
			t.Errorf("%d columns: no row %q in\n%s", width, text, b.String())
			return "", ""
		}
		for _, l := range lines {
			if strings.Count(l, "|") == 2 && bars == "" {
				bars = l
			}
			if len(l) > timeWidth && l[timeWidth-7] == '.' {
				times = append(times, l[:timeWidth])
			}
		}
		for i := 1; i < len(times); i++ {
			if times[i] < times[i-1] {
				t.Errorf("%d columns: rows out of time order: %s after %s", width, times[i], times[i-1])
			}
		}
		clientX, serverX := strings.Index(bars, "|"), strings.LastIndex(bars, "|")
		// beside reports whether the row's text is written right after lane column x
		// (or ends right before it), with nothing more on the line.
		beside := func(l, text string, x int) bool {
			r := []rune(strings.TrimRight(l, " |"))
			at := strings.Index(string(r), text)
			if at < 0 {
				return false
			}
			at = len([]rune(string(r)[:at]))
			n := len([]rune(text))
			return (at == x+2 || at+n == x-1) && at+n == len(r)
		}
		if l, _ := find("kt retransmit PSH seq 1001 len 1000, ca Recovery"); !beside(l, "kt retransmit PSH seq 1001 len 1000, ca Recovery", clientX) {
			t.Errorf("%d columns: the retransmission is not beside the client's lane (column %d): %q", width, clientX, l)
		}
		l, arrow := find("kt drop NETFILTER_DROP")
		if !beside(l, "kt drop NETFILTER_DROP", serverX) {
			t.Errorf("%d columns: the drop is not beside the server's lane (column %d) in so many words: %q", width, serverX, l)
		}
		if !strings.Contains(arrow, "PSH seq 1001 ack 1 len 1000 DROP") || !strings.Contains(arrow, "X|") {
			t.Errorf("%d columns: the dropped segment's arrow, above its drop, does not end in an X: %q", width, arrow)
		}
		l, _ = find("kt drop TCP_OLD_DATA ack 3001")
		if arrow, _ := find(" ack 3001 -"); !beside(l, "kt drop TCP_OLD_DATA ack 3001", clientX) || strings.Contains(arrow, "X") || strings.Contains(arrow, "DROP") {
			t.Errorf("%d columns: the free of a frame that did its work is not beside the client's lane, or its arrow ends in an X:\n%s\n%s", width, arrow, l)
		}
		if l, _ := find(":: CLOSE → SYN_SENT"); !beside(l, ":: CLOSE → SYN_SENT", clientX) {
			t.Errorf("%d columns: the state change is not beside the client's lane: %q", width, l)
		}
		for _, r := range d.Rows {
			if strings.Contains(r.Short, "QUEUE_PURGE") || strings.Contains(r.Short, "IPV6DISABLED") {
				t.Errorf("a row of a drop of no connection: %+v", r)
			}
		}
		for _, out := range []string{"QUEUE_PURGE", "NO_SOCKET", "IPV6DISABLED"} {
			if strings.Contains(b.String(), out) {
				t.Errorf("%d columns: the ladder of the flow shows a kernel event not of it (%s)", width, out)
			}
		}
	}
}
