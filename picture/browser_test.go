package picture

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pktlab/pktlab/timeline"
)

// browser is a headless Chromium (Debian's chromium package) with a record of what
// the page did that a self-contained report must not: requests other than the page
// itself, exceptions, console errors (a refusal by the page's Content-Security-Policy
// is one).
type browser struct {
	ctx context.Context

	mu       sync.Mutex // guards the record, written by chromedp's event goroutine
	page     string
	requests []string
	errs     []string
	threw    chan struct{} // closed at the page's first exception, for load
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed; CI must install the Debian package chromium")
		}
		t.Skip("chromium not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU)
	// A bound on a browser that hangs, not a timing assumption: every step below
	// waits for what the page reports.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	// chromedp enables the Log, Network and Runtime domains of the tab.
	if err := chromedp.Listen(bctx, b.event); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Request.URL != b.page {
			b.requests = append(b.requests, e.Request.URL)
		}
	case *runtime.EventExceptionThrown:
		what := e.ExceptionDetails.Text
		if ex := e.ExceptionDetails.Exception; ex != nil {
			what += " " + ex.Description
		}
		b.errs = append(b.errs, "exception: "+what)
		if b.threw != nil {
			close(b.threw)
			b.threw = nil
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			b.errs = append(b.errs, "console.error")
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError {
			b.errs = append(b.errs, "log: "+e.Entry.Text)
		}
	}
}

// load opens a report and waits until its script says it has drawn the ladder; it
// fails when the page threw, logged an error or asked for anything over a network.
func (b *browser) load(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	threw := make(chan struct{})
	b.mu.Lock()
	b.page, b.requests, b.errs, b.threw = "file://"+abs, nil, nil, threw
	b.mu.Unlock()
	// The script sets data-ready when it has drawn; a page whose script failed never
	// does, and its exception says so instead.
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- chromedp.Do(ctx, chromedp.Navigate(b.page), chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("load %s: %w (%v)", path, err, b.problems())
		}
		return b.problems()
	case <-threw:
		cancel()
		<-done
		return b.problems()
	}
}

func (b *browser) problems() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) > 0 || len(b.errs) > 0 {
		return fmt.Errorf("requests %q, errors %q", b.requests, b.errs)
	}
	return nil
}

func eval[T any](t testing.TB, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b *browser) do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func writeReport(t *testing.T, name string) (string, *Diagram) {
	t.Helper()
	d := FromTimeline(readCapture(t, name).Timeline())
	return writeHTMLFile(t, &Report{Title: name, Comment: "a <comment> & more", Diagram: d,
		Expectations: []Expectation{{Pos: "x.yaml:1:1", Where: "end of run", Pass: false, Want: "w", Seen: "s"}}}), d
}

// writeHTMLFile writes a report to a file of the test's and returns its path.
func writeHTMLFile(tb testing.TB, r *Report) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "report.html")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := WriteHTML(f, r); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestHTMLReportInBrowser loads the report of D3-us in Chromium: nothing fetched, no
// error, one arrow per frame (chatter when asked), the tcpdump line on hover, the
// bytes on click, a zoom that changes the time scale, and a time-sequence graph that
// marks the retransmission.
func TestHTMLReportInBrowser(t *testing.T) {
	b := newBrowser(t)
	path, d := writeReport(t, "D3-us")
	if err := b.load(path); err != nil {
		t.Fatal(err)
	}
	var frames, quiet int
	var first Row
	for _, r := range d.Rows {
		if r.Kind == RowFrame {
			frames++
			if !chatter(r.Frame) {
				if quiet == 0 {
					first = r
				}
				quiet++
			}
		}
	}
	count := `document.querySelectorAll('#ladder g.arrow').length`
	if n := eval[int](t, b, count); n != quiet || quiet == 0 {
		t.Errorf("%d arrows, want %d (one per frame but ARP, ND and MLD)", n, quiet)
	}
	b.hoverFirst(t, first)
	b.zoom(t)
	b.do(t, chromedp.Click(chromedp.CSS(`#chatter`)))
	if n := eval[int](t, b, count); n != frames {
		t.Errorf("with chatter: %d arrows, want %d", n, frames)
	}
	retx := eval[int](t, b, `document.querySelectorAll('svg.seqgraph .seg.retx').length`)
	dup := eval[int](t, b, `document.querySelectorAll('svg.seqgraph circle.dup').length`)
	if retx != 1 || dup != 1 {
		t.Errorf("time-sequence graph: %d retransmissions and %d dup ACKs marked, want 1 and 1", retx, dup)
	}
	b.graphTip(t)
	if err := b.problems(); err != nil {
		t.Error(err)
	}
	// D3, the same loss with the kernel on both ends, has its retransmission marked too.
	path, _ = writeReport(t, "D3")
	if err := b.load(path); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, b, `document.querySelectorAll('svg.seqgraph .seg.retx').length`); n != 1 {
		t.Errorf("D3's time-sequence graph marks %d retransmissions, want 1", n)
	}
}

// hoverFirst moves the mouse onto the first arrow and clicks it, as a user would.
func (b *browser) hoverFirst(t *testing.T, first Row) {
	t.Helper()
	box := b.hover(t, "#ladder g.arrow", first)
	b.do(t, chromedp.MouseClickXY(box.X, box.Y))
	shown := eval[string](t, b, `document.getElementById('bytes').textContent`)
	var octets []string
	for _, c := range first.Frame.Data[:16] {
		octets = append(octets, hex.EncodeToString([]byte{c}))
	}
	want := strings.Join(octets, " ")
	if !strings.Contains(shown, "0000  "+want) {
		t.Errorf("click shows:\n%s\nwant its first bytes %s", shown, want)
	}
}

// hover moves the mouse onto the arrow sel selects, which must show r's tcpdump line,
// and returns where the mouse is.
func (b *browser) hover(t testing.TB, sel string, r Row) struct{ X, Y float64 } {
	t.Helper()
	box := eval[struct{ X, Y float64 }](t, b, `(() => { const e = document.querySelector('`+sel+` .hit'); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return {X: r.x + r.width / 2, Y: r.y + r.height / 2}; })()`)
	b.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, box.X, box.Y))
	tip := eval[string](t, b, `document.getElementById('tip').hidden ? '' : document.getElementById('tip').textContent`)
	if !strings.HasPrefix(tip, r.Line) {
		t.Errorf("hover shows %q, want the tcpdump line %q", tip, r.Line)
	}
	return box
}

// graphTip moves the mouse onto the retransmitted segment of the time-sequence
// graph: the tip names it, and the ACK nearest in time.
func (b *browser) graphTip(t *testing.T) {
	t.Helper()
	at := eval[struct{ X, Y float64 }](t, b, `(() => { const e = document.querySelector('svg.seqgraph .seg.retx line'); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return {X: r.x + r.width / 2, Y: r.y + r.height / 2}; })()`)
	b.do(t, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at.X, at.Y))
	tip := eval[string](t, b, `document.getElementById('tip').hidden ? '' : document.getElementById('tip').textContent`)
	if !strings.Contains(tip, "retransmission") || !strings.Contains(tip, " ack ") {
		t.Errorf("hover on the retransmission shows %q, want the segment (a retransmission) and an ACK", tip)
	}
}

// zoom doubles the time scale: the ladder grows where the gaps are longer than a row.
func (b *browser) zoom(t *testing.T) {
	t.Helper()
	type scale struct{ Scale, Height string }
	js := `({Scale: document.getElementById('ladder').dataset.scale, Height: document.getElementById('ladder').getAttribute('height')})`
	before := eval[scale](t, b, js)
	b.do(t, chromedp.Click(chromedp.CSS(`#zoom-in`)))
	after := eval[scale](t, b, js)
	if before.Scale == after.Scale || before.Height == after.Height {
		t.Errorf("zoom in: scale %s → %s, height %s → %s; want both to change", before.Scale, after.Scale, before.Height, after.Height)
	}
}

// TestHTMLCongestionSamples: a timeline with congestion samples (the kernel's, as
// ktrace reads them) gets a cwnd, ssthresh and srtt graph per socket.
func TestHTMLCongestionSamples(t *testing.T) {
	b := newBrowser(t)
	tl := readCapture(t, "C1").Timeline()
	local, remote := netip.MustParseAddrPort("198.18.1.2:40000"), netip.MustParseAddrPort("198.18.1.1:80")
	for i, cwnd := range []uint32{10, 20, 5} {
		tl.Add(tl.Start.Add(time.Duration(i+1)*time.Millisecond), "client", &timeline.CongestionSample{Local: local, Remote: remote, SndCwnd: cwnd, Ssthresh: 0x7fffffff, SRTT: 100 * time.Microsecond})
	}
	path := writeHTMLFile(t, &Report{Title: "cong", Diagram: FromTimeline(tl)})
	if err := b.load(path); err != nil {
		t.Fatal(err)
	}
	got := eval[string](t, b, `(() => { const p = document.querySelector('svg.conggraph path.cwnd'); return p ? p.getAttribute('d') : ''; })()`)
	if strings.Count(got, " H") != 2 {
		t.Errorf("cwnd path %q, want 3 samples", got)
	}
	if title := eval[string](t, b, `document.querySelector('#cong h3').textContent`); title != "198.18.1.2:40000 > 198.18.1.1:80" {
		t.Errorf("congestion graph titled %q", title)
	}
}

// TestHTMLBrokenPageFails: the browser check catches a report whose script throws,
// and one that fetches from the network.
func TestHTMLBrokenPageFails(t *testing.T) {
	b := newBrowser(t)
	path, _ := writeReport(t, "C1")
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"throws": func(s string) string {
			return strings.Replace(s, "var D = JSON.parse", "null.x; var D = JSON.parse", 1)
		},
		"fetches": func(s string) string {
			return strings.Replace(s, "<h2>Ladder</h2>", `<h2>Ladder</h2><img src="http://198.18.0.1/x.png">`, 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "broken.html")
			if err := os.WriteFile(p, []byte(edit(string(page))), 0o644); err != nil {
				t.Fatal(err)
			}
			err := b.load(p)
			if err == nil {
				t.Fatal("a broken report passed the browser check")
			}
			t.Log(err)
		})
	}
}
