package picture

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// bulk is a synthetic capture of one TCP bulk transfer on one veth, both ends
// captured: a handshake, then n frames alternating a data segment of size bytes from
// the client and the server's ACK of it, 10 µs apart.
func bulk(tb testing.TB, n, size int) *Collector {
	tb.Helper()
	c := NewCollector([]string{"client:eth0", "server:eth0"})
	cmac, smac := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	cip, sip := net.IP{198, 18, 1, 2}, net.IP{198, 18, 1, 1}
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	payload := make([]byte, size)
	var cseq, sseq uint32 = 1000, 5000
	frame := func(fromClient bool, tcp *layers.TCP, data []byte) []byte {
		eth := &layers.Ethernet{SrcMAC: cmac, DstMAC: smac, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cip, DstIP: sip, Flags: layers.IPv4DontFragment}
		tcp.SrcPort, tcp.DstPort = 40000, 80
		if !fromClient {
			eth.SrcMAC, eth.DstMAC = smac, cmac
			ip.SrcIP, ip.DstIP = sip, cip
			tcp.SrcPort, tcp.DstPort = 80, 40000
		}
		tcp.Window = 502
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			tb.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(data)); err != nil {
			tb.Fatal(err)
		}
		return buf.Bytes()
	}
	t := start
	add := func(fromClient bool, tcp *layers.TCP, data []byte) {
		b := frame(fromClient, tcp, data)
		from, to := 0, 1
		if !fromClient {
			from, to = 1, 0
		}
		for i, dir := range []struct {
			iface int
			d     Direction
		}{{from, DirOut}, {to, DirIn}} {
			if err := c.Add(Captured{Iface: dir.iface, Time: t.Add(time.Duration(i) * time.Microsecond), Data: b, Dir: dir.d}); err != nil {
				tb.Fatal(err)
			}
		}
		t = t.Add(10 * time.Microsecond)
	}
	mss := []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}}}
	add(true, &layers.TCP{SYN: true, Seq: cseq, Options: mss}, nil)
	add(false, &layers.TCP{SYN: true, ACK: true, Seq: sseq, Ack: cseq + 1, Options: mss}, nil)
	cseq, sseq = cseq+1, sseq+1
	add(true, &layers.TCP{ACK: true, Seq: cseq, Ack: sseq}, nil)
	for i := 0; i < n/2; i++ {
		add(true, &layers.TCP{ACK: true, PSH: true, Seq: cseq, Ack: sseq}, payload)
		cseq += uint32(size)
		add(false, &layers.TCP{ACK: true, Seq: sseq, Ack: cseq}, nil)
	}
	return c
}

// TestHTMLBytesPerFrame: a report of a bulk transfer weighs at most 300 bytes per
// frame, whatever the segment size.
func TestHTMLBytesPerFrame(t *testing.T) {
	for _, size := range []int{100, 1448} {
		d := FromTimeline(bulk(t, 2000, size).Timeline())
		frames := 0
		for _, r := range d.Rows {
			if r.Kind == RowFrame {
				frames++
			}
		}
		var b bytes.Buffer
		if err := WriteHTML(&b, &Report{Title: "bulk", Diagram: d}); err != nil {
			t.Fatal(err)
		}
		if per := b.Len() / frames; per > 300 {
			t.Errorf("segments of %d bytes: %d bytes per frame (%d bytes, %d frames), want at most 300", size, per, b.Len(), frames)
		}
	}
}

// BenchmarkReport100k draws the HTML report of 100 000 frames (a bulk transfer of
// 100-byte segments, both ends of the veth captured).
func BenchmarkReport100k(b *testing.B) {
	benchDraw(b, func(w *bytes.Buffer, d *Diagram) error {
		err := WriteHTML(w, &Report{Title: "bulk", Diagram: d})
		b.ReportMetric(float64(w.Len())/100_000, "bytes/frame")
		return err
	})
}

// BenchmarkLadder100k draws the terminal ladder of the same 100 000 frames.
func BenchmarkLadder100k(b *testing.B) {
	benchDraw(b, func(w *bytes.Buffer, d *Diagram) error { return WriteLadder(w, d, LadderOptions{Width: 80}) })
}

func benchDraw(b *testing.B, draw func(*bytes.Buffer, *Diagram) error) {
	tl := bulk(b, 99_996, 100).Timeline()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var out bytes.Buffer
		if err := draw(&out, FromTimeline(tl)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLadderD3us draws the ladder of a real run (27 frames through a router),
// from its timeline, as run --ladder adds it after the run.
func BenchmarkLadderD3us(b *testing.B) {
	tl := readCapture(b, "D3-us").Timeline()
	b.ReportAllocs()
	for b.Loop() {
		var out bytes.Buffer
		if err := WriteLadder(&out, FromTimeline(tl), LadderOptions{Width: 80}); err != nil {
			b.Fatal(err)
		}
	}
}

// writeBulkReport writes the report of 100 000 frames (BenchmarkReport100k's).
func writeBulkReport(tb testing.TB) (string, *Diagram) {
	tb.Helper()
	d := FromTimeline(bulk(tb, 99_996, 100).Timeline())
	return writeHTMLFile(tb, &Report{Title: "bulk", Diagram: d}), d
}

// TestHTML100kInBrowser opens the report of 100 000 frames in chromium: its first
// screen shows the first frames and only the rows near the view (a few hundred
// arrows, not one per frame), and scrolling to the end draws the last frame, whose
// hover shows its tcpdump line.
func TestHTML100kInBrowser(t *testing.T) {
	b := newBrowser(t)
	path, d := writeBulkReport(t)
	if err := b.load(path); err != nil {
		t.Fatal(err)
	}
	var frames []Row
	for _, r := range d.Rows {
		if r.Kind == RowFrame {
			frames = append(frames, r)
		}
	}
	if eval[string](t, b, `document.body.dataset.firstScreen || ''`) == "" {
		t.Error("no first-screen mark")
	}
	labels := eval[[]string](t, b, `Array.from(document.querySelectorAll('#ladder g.arrow .label'), e => e.textContent)`)
	if len(labels) == 0 || len(labels) > 2000 {
		t.Fatalf("first screen: %d arrows for %d frames, want some and at most 2000", len(labels), len(frames))
	}
	if labels[0] != frames[0].Label {
		t.Errorf("first arrow %q, want the first frame's %q", labels[0], frames[0].Label)
	}
	eval[bool](t, b, `(() => { const box = document.getElementById('ladder-box'); box.scrollTop = box.scrollHeight; return true; })()`)
	lastArrow := fmt.Sprintf(`#ladder g.arrow[data-i="%d"]`, len(frames)-1)
	b.do(t, chromedp.WaitReady(chromedp.CSS(lastArrow)))
	last := frames[len(frames)-1]
	if got := eval[string](t, b, `document.querySelector('`+lastArrow+` .label').textContent`); got != last.Label {
		t.Errorf("last arrow %q, want the last frame's %q", got, last.Label)
	}
	if n := eval[int](t, b, `document.querySelectorAll('#ladder g.arrow').length`); n > 2000 {
		t.Errorf("after scrolling to the end: %d arrows drawn, want at most 2000", n)
	}
	b.hover(t, lastArrow, last)
	if err := b.problems(); err != nil {
		t.Error(err)
	}
}

// BenchmarkReport100kOpen opens the report of 100 000 frames in headless chromium
// (Debian's chromium, as the browser tests drive it). first-screen-ms is the time
// from the start of the navigation until the ladder's first screen has been painted
// (the page's data-first-screen: performance.now() in a task queued from the frame
// after the ladder was drawn), ready-ms until the graphs are drawn too.
func BenchmarkReport100kOpen(b *testing.B) {
	br := newBrowser(b)
	path, _ := writeBulkReport(b)
	var first, ready float64
	for b.Loop() {
		if err := br.load(path); err != nil {
			b.Fatal(err)
		}
		m := eval[struct{ First, Ready string }](b, br, `({First: document.body.dataset.firstScreen, Ready: document.body.dataset.readyAt})`)
		f, err1 := strconv.ParseFloat(m.First, 64)
		r, err2 := strconv.ParseFloat(m.Ready, 64)
		if err1 != nil || err2 != nil {
			b.Fatalf("marks %+v", m)
		}
		first, ready = first+f, ready+r
	}
	b.ReportMetric(first/float64(b.N), "first-screen-ms")
	b.ReportMetric(ready/float64(b.N), "ready-ms")
	b.ReportMetric(0, "ns/op")
}
