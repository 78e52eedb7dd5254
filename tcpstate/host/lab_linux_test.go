package host

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/testlab"
)

const twoNodes = `
nodes:
  us:
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
  kern:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
links:
  - [us:eth0, kern:eth0]
`

var (
	usAddrs = []netip.Prefix{netip.MustParsePrefix("198.18.1.10/24"), netip.MustParsePrefix("2001:db8:1::10/64")}
	kern4   = netip.MustParseAddr("198.18.1.2")
	kern6   = netip.MustParseAddr("2001:db8:1::2")
	us4     = netip.MustParseAddr("198.18.1.10")
	us6     = netip.MustParseAddr("2001:db8:1::10")
)

// recorder keeps a host's events for assertions.
type recorder struct {
	mu   sync.Mutex // guards evs and more
	evs  []Event
	more chan struct{} // closed and replaced at every event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	if r.more != nil {
		close(r.more)
	}
	r.more = make(chan struct{})
	r.mu.Unlock()
}

// waitLimit bounds every wait of these tests for something the host or the kernel
// reports; it is long, for a loaded machine, and only a failure ever waits it out.
const waitLimit = labtest.FailAfter

// waitFor waits until cond holds for the events so far (it is called again after
// every new event), or fails the test after waitLimit. Cond may look at the host too:
// whatever it reads changes only together with an event.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]Event) bool) []Event {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		r.mu.Lock()
		if r.more == nil {
			r.more = make(chan struct{})
		}
		evs, more := append([]Event(nil), r.evs...), r.more
		r.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-more:
		case <-limit:
			t.Fatalf("no %s within %v; events:\n%s", what, waitLimit, eventList(evs))
		}
	}
}

func eventList(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %v\n", e)
	}
	return b.String()
}

// waitState waits until the connection is in state want: every state change comes
// with an event.
func waitState(t *testing.T, rec *recorder, c *Conn, want tcpstate.State) {
	t.Helper()
	rec.waitFor(t, fmt.Sprintf("%v for %v", want, c.key.local), func([]Event) bool { return c.State() == want })
}

// t0 is where the tests' manual clocks start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// stateTime returns when the connection last entered state st, on the host's clock.
func stateTime(rec *recorder, c *Conn, st tcpstate.State) time.Time {
	var at time.Time
	for _, e := range rec.events() {
		if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventStateChanged && e.Local == c.key.local && e.TCP.To == st {
			at = e.Time
		}
	}
	return at
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.evs...)
}

// states returns the state path of the connection with the given remote (any
// remote when invalid).
func (r *recorder) states(local netip.AddrPort) []tcpstate.State {
	var s []tcpstate.State
	for _, e := range r.events() {
		if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventStateChanged && (!local.IsValid() || e.Local == local) {
			s = append(s, e.TCP.To)
		}
	}
	return s
}

// segments returns the TCP segments sent (out) or received by the host.
func (r *recorder) segments(out bool) []tcpstate.Segment {
	want := tcpstate.EventSegmentReceived
	if out {
		want = tcpstate.EventSegmentSent
	}
	var s []tcpstate.Segment
	for _, e := range r.events() {
		if e.Kind == EventTCP && e.TCP.Kind == want {
			s = append(s, e.TCP.Segment)
		}
	}
	return s
}

func startHost(t *testing.T, n *testlab.Node, cfg Config) (*Host, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Events = rec.add
	if !cfg.Shared && cfg.Addrs == nil {
		cfg.Addrs = usAddrs
	}
	h, err := Start(context.Background(), n, &cfg)
	if err != nil {
		t.Fatalf("start host: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h, rec
}

// kernelListen opens a kernel listening socket inside node n.
func kernelListen(t *testing.T, n *testlab.Node, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		t.Fatalf("kernel listen in %s: %v", n.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// kernelDial connects from a kernel socket inside node n.
func kernelDial(ctx context.Context, n *testlab.Node, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) {
		d := net.Dialer{}
		c, err = d.DialContext(ctx, "tcp", addr)
		return
	})
	return c, err
}

func families() []struct {
	name     string
	kern, us netip.Addr
} {
	return []struct {
		name     string
		kern, us netip.Addr
	}{{"ipv4", kern4, us4}, {"ipv6", kern6, us6}}
}

// failAfter bounds a wait that ends on an event (a handshake, data, EOF, a RST):
// not a sync point, only how long a test waits on a loaded machine before it
// reports what it saw and fails.
const failAfter = 60 * time.Second

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLabHandshakeUserspaceClient(t *testing.T) {
	// C1 with the userspace client and a kernel server.
	lab := labtest.Start(t, twoNodes)
	for _, f := range families() {
		t.Run(f.name, func(t *testing.T) {
			h, rec := startHost(t, lab.Node("us"), Config{})
			ln := kernelListen(t, lab.Node("kern"), netip.AddrPortFrom(f.kern, 8080).String())
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			c, err := h.Dial(ctxT(t, failAfter), netip.AddrPortFrom(f.kern, 8080))
			if err != nil {
				t.Fatalf("dial: %v\n%v", err, rec.events())
			}
			defer c.Close()
			kc := <-accepted
			defer kc.Close()
			if got := kc.RemoteAddr().(*net.TCPAddr).AddrPort(); got != c.key.local {
				t.Errorf("kernel sees peer %v, want %v", got, c.key.local)
			}
			out, in := rec.segments(true), rec.segments(false)
			if len(out) < 2 || len(in) < 1 {
				t.Fatalf("segments out %v in %v", out, in)
			}
			syn, synack, ack := out[0], in[0], out[1]
			if syn.Flags != header.TCPFlagSYN || synack.Flags != header.TCPFlagSYN|header.TCPFlagACK || synack.Ack != syn.Seq+1 ||
				ack.Flags != header.TCPFlagACK || ack.Ack != synack.Seq+1 || ack.Seq != syn.Seq+1 {
				t.Errorf("handshake: %v / %v / %v", &syn, &synack, &ack)
			}
			wantMSS := uint16(1460)
			if f.name == "ipv6" {
				wantMSS = 1440
			}
			if syn.Options.MSS != wantMSS || synack.Options.MSS != wantMSS {
				t.Errorf("MSS sent %d received %d, want %d (B1)", syn.Options.MSS, synack.Options.MSS, wantMSS)
			}
			if got := rec.states(c.key.local); len(got) < 2 || got[0] != tcpstate.SynSent || got[1] != tcpstate.Established {
				t.Errorf("client states %v, want SYN-SENT, ESTABLISHED", got)
			}
			// Round trip both ways.
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			kc.SetReadDeadline(time.Now().Add(failAfter))
			if _, err := io.ReadFull(kc, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("kernel read %q, %v", buf, err)
			}
			kc.Write([]byte("pong"))
			c.SetReadDeadline(time.Now().Add(failAfter))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
				t.Fatalf("userspace read %q, %v", buf, err)
			}
		})
	}
}
