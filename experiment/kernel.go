package experiment

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/rawsock/header"
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

	mu      sync.Mutex // guards pending and syns
	pending map[uint64]heldState
	syns    []synSeen // the latest SYNs the nodes sent, oldest first, at most maxSYNs

	missed uint64 // the tracer's Stats.Missed when the run began
	noted  uint64 // the tracer's Stats.Missed when noteLosses last looked
	lost   uint64 // events of the run's nodes lost, as noteLosses last counted
}

// heldState is a CLOSE → SYN_SENT change waiting for its socket's local port.
// connect() sets SYN_SENT before it picks the port (tcp_v4_connect, then
// inet_hash_connect), so the tracepoint reports local port 0. The port is in the
// SYN that connect() sends microseconds later: when the capture puts that frame on
// the timeline (or had put it there before the change came), the change goes on
// the timeline with the SYN's source port, at its own time, so that a streamed
// timeline shows it in its place (C3's SYN is never answered, and its socket's next
// event, the retransmission, comes a second later). Where no SYN tells the port
// for certain (the interface is not captured, two connects to one peer at once),
// the socket's next event (ESTABLISHED, a SYN retransmission, a RST, CLOSE) does.
type heldState struct {
	time  time.Time
	node  string
	state *timeline.KernelState
}

// synSeen is a bare SYN a node sent, as its capture put it on the timeline.
type synSeen struct {
	time     time.Time
	node     string
	src, dst netip.AddrPort
	seq      uint32
	used     bool // it told a held change its port, or it is a socket's whose port the tracer gave
}

const (
	// maxSYNs bounds the SYNs kept for a change that reaches the timeline after its SYN.
	maxSYNs = 64
	// synSlack is how far before a SYN_SENT change its SYN may be stamped: the
	// tracer's clock is converted to the packet sockets' (ktrace.Header.Time).
	synSlack = time.Millisecond
)

// kernelSub is one node's subscription and the goroutine that moves its events to
// the timeline.
type kernelSub struct {
	sub  *ktrace.Subscription
	node string
	sync chan chan struct{} // a request to move everything queued, answered by closing it
	stop chan struct{}      // closed by stop: move what is queued and return
	done chan struct{}      // closed when the goroutine has returned
	lost uint64             // its Lost() when noteLosses last looked
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
	k.noted = k.missed
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
	st, _ := d.(*timeline.KernelState)
	switch {
	case st == nil || st.To != "SYN_SENT":
	case st.Local.Port() != 0:
		k.claimSYN(h.Node, st.Local, st.Remote) // its SYN is no other socket's
	case h.Sock != 0:
		held := heldState{h.Time, h.Node, st}
		if syn := k.synFor(held); syn != nil {
			syn.used = true
			st.Local = netip.AddrPortFrom(st.Local.Addr(), syn.src.Port())
			break
		}
		k.pending[h.Sock] = held
		return
	}
	k.tl.Add(h.Time, h.Node, d)
}

// frame is told of each frame a capture put on the timeline (captures.seen). A bare
// SYN a node sent, the first with its addresses and sequence number (not a
// retransmission), releases the node's held SYN_SENT change of the socket it is
// from, with its source port; or is kept for a change still to come.
func (k *kernelEvents) frame(t time.Time, node string, f *timeline.Frame) {
	p := &f.Packet
	if !f.Out || p.Proto != "tcp" || p.Flags != header.TCPFlagSYN {
		return
	}
	syn := synSeen{time: t, node: node, src: netip.AddrPortFrom(p.Src, uint16(p.SPort)), dst: netip.AddrPortFrom(p.Dst, uint16(p.DPort)), seq: p.Seq}
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.syns {
		if o := &k.syns[i]; o.node == node && o.src == syn.src && o.dst == syn.dst && o.seq == syn.seq {
			return // sent again
		}
	}
	var sock uint64
	n := 0
	for s, held := range k.pending {
		if held.node == node && matchesSYN(held, &syn) {
			sock, n = s, n+1
		}
	}
	if n == 1 {
		held := k.pending[sock]
		held.state.Local = netip.AddrPortFrom(held.state.Local.Addr(), syn.src.Port())
		k.tl.Add(held.time, held.node, held.state)
		delete(k.pending, sock)
		syn.used = true
	}
	if len(k.syns) == maxSYNs {
		k.syns = append(k.syns[:0], k.syns[1:]...)
	}
	k.syns = append(k.syns, syn)
}

// synFor is the one SYN seen that a held change can be from, or nil when there is
// none or more than one.
func (k *kernelEvents) synFor(held heldState) *synSeen {
	var found *synSeen
	for i := range k.syns {
		if syn := &k.syns[i]; !syn.used && syn.node == held.node && matchesSYN(held, syn) {
			if found != nil {
				return nil
			}
			found = syn
		}
	}
	return found
}

// claimSYN marks the SYN of a socket whose port the tracer gave as no held change's.
func (k *kernelEvents) claimSYN(node string, local, remote netip.AddrPort) {
	for i := range k.syns {
		if syn := &k.syns[i]; syn.node == node && syn.src == unmapped(local) && syn.dst == unmapped(remote) {
			syn.used = true
		}
	}
}

// matchesSYN reports whether a SYN can be the one the held change's connect() sent:
// to its remote end, from its local address, not before it.
func matchesSYN(held heldState, syn *synSeen) bool {
	st := held.state
	return syn.dst == unmapped(st.Remote) && (st.Local.Addr().IsUnspecified() || syn.src.Addr() == st.Local.Addr().Unmap()) &&
		!syn.time.Before(held.time.Add(-synSlack))
}

// unmapped is a as an IPv4 frame carries it when a is an IPv4-mapped IPv6 address
// (a dual-stack socket's view of an IPv4 peer).
func unmapped(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

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

// noteLosses notes on the timeline what the kernel could not hand over since it last
// looked: events of a node lost (bpf_ringbuf_reserve failed), and events missed
// machine-wide (a tracepoint's two programs both busy on a CPU). The run calls it
// before it checks its expectations, so that a kernel expectation that fails for
// want of an event is read beside the cause, and again at the end.
func (k *kernelEvents) noteLosses() {
	if k == nil {
		return
	}
	if m := k.tr.Stats().Missed; m > k.noted {
		k.tl.Note(time.Now(), "", fmt.Sprintf("kernel tracing: %d events missed machine-wide during the run, "+
			"this run's perhaps among them (a tracepoint's two programs were both busy on one CPU)", m-k.noted))
		k.noted = m
	}
	var lost uint64
	for _, s := range k.subs {
		if n := s.sub.Lost(); n > s.lost {
			k.tl.Note(time.Now(), s.node, fmt.Sprintf("kernel tracing: %d events lost (the kernel could not reserve ring buffer space)", n-s.lost))
			s.lost = n
		}
		lost += s.lost
	}
	k.lost = lost
}

// losses are the events of this run's nodes lost and the events missed
// machine-wide since the run began, as noteLosses last counted them.
func (k *kernelEvents) losses() (lost, missed uint64) {
	if k == nil {
		return 0, 0
	}
	return k.lost, k.noted - k.missed
}

// stop moves the last events to the timeline, notes lost ones, and unsubscribes
// (closing the tracer if it is the run's own).
func (k *kernelEvents) stop(ctx context.Context) {
	if k == nil {
		return
	}
	k.syncFor(ctx, 2*time.Second)
	k.flushHeld()
	k.noteLosses()
	for _, s := range k.subs {
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
		r.caps.tell(k.frame)
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
