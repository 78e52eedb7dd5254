package experiment

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

// sourcePoll is the Source of the KernelState events of the sock_diag poll, the
// fallback when the kernel cannot be traced: a poll misses states shorter than its
// interval, and the timeline says so on every event it made.
const sourcePoll = "sock_diag poll"

// kernelEvents puts the kernel's TCP events of every lab node on the timeline, from
// package ktrace: state changes, retransmissions, resets, drops with their reason,
// and congestion samples when asked for. Event times are the kernel's, on the clock
// of the capture's frame timestamps, so the timeline sorts each right after the
// frame that caused it.
type kernelEvents struct {
	tr   *ktrace.Tracer
	own  bool // opened for this run, closed by stop
	cong bool // keep congestion samples and congestion state changes
	tl   *timeline.Timeline
	subs []*kernelSub

	mu      sync.Mutex // guards pending
	pending map[uint64]heldState

	missed uint64 // the tracer's Stats.Missed when the run began
}

// heldState is a CLOSE → SYN_SENT change waiting for its socket's local port.
// connect() sets SYN_SENT before it picks the port (tcp_v4_connect, then
// inet_hash_connect), so the tracepoint reports local port 0; the socket's next
// event (ESTABLISHED, a SYN retransmission, a RST, CLOSE) has the port, and the
// change goes on the timeline with it, at its own time.
type heldState struct {
	time  time.Time
	node  string
	state *timeline.KernelState
}

// kernelSub is one node's subscription and the goroutine that moves its events to
// the timeline.
type kernelSub struct {
	sub  *ktrace.Subscription
	node string
	sync chan chan struct{} // a request to move everything queued, answered by closing it
	stop chan struct{}      // closed by stop: move what is queued and return
	done chan struct{}      // closed when the goroutine has returned
}

// startKernel subscribes to every node of the lab, on tr, or on a tracer of its own
// when tr is nil. An error that wraps ktrace.ErrUnsupported means there is no
// kernel tracing here (no CAP_BPF/CAP_PERFMON, no BPF, a locked-down kernel): the
// caller falls back to polling.
func startKernel(lab *testlab.Lab, tl *timeline.Timeline, tr *ktrace.Tracer, cong bool) (*kernelEvents, error) {
	k := &kernelEvents{tr: tr, cong: cong, tl: tl, pending: map[uint64]heldState{}}
	if tr == nil {
		var err error
		if k.tr, err = ktrace.Open(&ktrace.Options{Congestion: cong}); err != nil {
			return nil, err
		}
		k.own = true
	}
	k.missed = k.tr.Stats().Missed
	for _, n := range lab.Nodes() {
		sub, err := k.tr.SubscribeNode(n)
		if err != nil {
			k.stop(context.Background())
			return nil, fmt.Errorf("kernel tracing of node %s: %w", n.Name(), err)
		}
		s := &kernelSub{sub: sub, node: n.Name(), sync: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
		k.subs = append(k.subs, s)
		go k.move(s)
	}
	return k, nil
}

// move adds a subscription's events to the timeline until stopped.
func (k *kernelEvents) move(s *kernelSub) {
	defer close(s.done)
	ch := s.sub.Events()
	queued := func() {
		for n := len(ch); n > 0; n-- {
			if ev, ok := <-ch; ok {
				k.add(ev)
			}
		}
	}
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return // the tracer was closed
			}
			k.add(ev)
		case req := <-s.sync:
			queued()
			close(req)
		case <-s.stop:
			queued()
			return
		}
	}
}

func (k *kernelEvents) add(ev ktrace.Event) {
	d := ktrace.Record(ev)
	if d == nil || !k.cong && d.Kind() == timeline.KindCongestion {
		return
	}
	h := ev.EventHeader()
	k.mu.Lock()
	defer k.mu.Unlock()
	if held, ok := k.pending[h.Sock]; ok {
		if local := localOf(ev); local.Port() != 0 && (local.Addr() == held.state.Local.Addr() || held.state.Local.Addr().IsUnspecified()) {
			held.state.Local = local
		}
		k.tl.Add(held.time, held.node, held.state)
		delete(k.pending, h.Sock)
	}
	if st, ok := d.(*timeline.KernelState); ok && st.Local.Port() == 0 && st.To == "SYN_SENT" && h.Sock != 0 {
		k.pending[h.Sock] = heldState{h.Time, h.Node, st}
		return
	}
	k.tl.Add(h.Time, h.Node, d)
}

// flushHeld puts the held changes on the timeline as they are.
func (k *kernelEvents) flushHeld() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for sock, held := range k.pending {
		k.tl.Add(held.time, held.node, held.state)
		delete(k.pending, sock)
	}
}

// localOf is the local address of an event's socket.
func localOf(ev ktrace.Event) netip.AddrPort {
	switch e := ev.(type) {
	case *ktrace.StateChange:
		return e.Local
	case *ktrace.Retransmit:
		return e.Local
	case *ktrace.Reset:
		return e.Local
	case *ktrace.Drop:
		return e.SockTuple.Local
	case *ktrace.CongState:
		return e.Local
	case *ktrace.CongSample:
		return e.Local
	}
	return netip.AddrPort{}
}

// sync returns once every event the kernel reported before the call is on the
// timeline, or when ctx ends.
func (k *kernelEvents) sync(ctx context.Context) error {
	if k == nil {
		return nil
	}
	if err := k.tr.Drain(ctx); err != nil {
		return err
	}
	for _, s := range k.subs {
		req := make(chan struct{})
		select {
		case s.sync <- req:
		case <-s.done:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-req:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// syncFor is sync bounded by d; an error is noted on the timeline (the events
// read so far are there, and the expectations say what they lack).
func (k *kernelEvents) syncFor(ctx context.Context, d time.Duration) {
	if k == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := k.sync(ctx); err != nil {
		k.tl.Note(time.Now(), "", fmt.Sprintf("kernel tracing: events not all read: %v", err))
	}
}

// stop moves the last events to the timeline, notes lost ones, and unsubscribes
// (closing the tracer if it is the run's own).
func (k *kernelEvents) stop(ctx context.Context) {
	if k == nil {
		return
	}
	k.syncFor(ctx, 2*time.Second)
	k.flushHeld()
	if n := k.tr.Stats().Missed - k.missed; n > 0 {
		k.tl.Note(time.Now(), "", fmt.Sprintf("kernel tracing: %d events missed machine-wide during the run, "+
			"this run's perhaps among them (a tracepoint's two programs were both busy on one CPU)", n))
	}
	for _, s := range k.subs {
		if n := s.sub.Lost(); n > 0 {
			k.tl.Note(time.Now(), s.node, fmt.Sprintf("kernel tracing: %d events lost (the ring buffer was full)", n))
		}
		s.sub.Close()
		close(s.stop)
		<-s.done
	}
	if k.own {
		k.tr.Close()
	}
}

// startKernelOrPoll starts kernel tracing or, where the kernel cannot be traced,
// the sock_diag poll; it returns why it polls ("" when it traces).
func (r *run) startKernelOrPoll() (string, error) {
	k, err := startKernel(r.lab, r.tl, r.opts.Tracer, r.opts.Congestion)
	if err == nil {
		r.kern = k
		return "", nil
	}
	if !errors.Is(err, ktrace.ErrUnsupported) {
		return "", fmt.Errorf("experiment %s: %w", r.f.Path, err)
	}
	why := fmt.Sprintf("%v; kernel TCP states are polled with sock_diag every %v instead (shorter states are missed, no retransmissions, resets or drops)", err, pollInterval)
	r.tl.Note(time.Now(), "", why)
	r.poll = startPoller(r.lab, r.tl)
	return why, nil
}
