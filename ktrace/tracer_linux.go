package ktrace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Options tune a Tracer. A nil *Options means the defaults.
type Options struct {
	// Congestion attaches tcp:tcp_probe, one CongSample per segment a traced
	// connection receives: the costly tracepoint, off unless asked for.
	Congestion bool
	// RingSize is the ring buffer's size in bytes: a power of two from 64 KiB to
	// 256 MiB, default 8 MiB (about 27 000 events of backlog).
	RingSize int
	// Buffer is the size of each subscription's channel, 1 to 1<<16, default 1024.
	// Delivery waits while a channel is full; the ring holds the backlog, and what
	// it cannot hold is counted as Lost.
	Buffer int
}

const (
	// pollPeriod is how often the reader looks at the ring without being woken:
	// the longest a record submitted without wakeup (a congestion sample) waits.
	pollPeriod    = 20 * time.Millisecond
	defaultRing   = 8 << 20
	defaultBuffer = 1024
	maxNetNS      = 4096 // namespaces traced at once
)

func (o *Options) withDefaults() (Options, error) {
	var v Options
	if o != nil {
		v = *o
	}
	if v.RingSize == 0 {
		v.RingSize = defaultRing
	}
	if v.RingSize < 64<<10 || v.RingSize > 256<<20 || v.RingSize&(v.RingSize-1) != 0 {
		return v, fmt.Errorf("ktrace: ring size %d: want a power of two from 64 KiB to 256 MiB", v.RingSize)
	}
	if v.Buffer == 0 {
		v.Buffer = defaultBuffer
	}
	if v.Buffer < 1 || v.Buffer > 1<<16 {
		return v, fmt.Errorf("ktrace: subscription buffer %d: want 1 to 65536", v.Buffer)
	}
	return v, nil
}

// Tracer owns the programs, maps and links of one trace. Events reach the
// subscriptions of their namespace; everything is removed by Close.
type Tracer struct {
	opts   Options
	layout *kernelLayout
	clk    clock
	maps   progMaps
	progs  []*ebpf.Program
	// primaries are the first program of each tracepoint (progs holds them too):
	// their recursion misses, less what the backups took, are Stats.Missed.
	primaries []*ebpf.Program
	links     []link.Link
	rd        *ringbuf.Reader
	done      chan struct{} // closed when the reader goroutine has returned
	stop      chan struct{} // closed by Close: delivery stops waiting for subscribers

	received, delivered, unknown atomic.Uint64

	mu     sync.Mutex // guards subs and closed
	subs   map[NetNS][]*Subscription
	closed bool
}

// Subscription receives the events of one network namespace.
type Subscription struct {
	t    *Tracer
	ns   NetNS
	node string
	ch   chan Event
	done chan struct{} // closed by Close: delivery stops
	once sync.Once
}

// Open loads the programs and attaches them to the tracepoints. Events flow to
// subscriptions only: a namespace nobody subscribed to costs a map lookup per
// event in the kernel and nothing else.
func Open(opts *Options) (*Tracer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("%w: read kernel BTF (/sys/kernel/btf/vmlinux): %w", ErrUnsupported, err)
	}
	layout, err := readLayout(spec)
	if err != nil {
		return nil, err
	}
	t := &Tracer{opts: o, layout: layout, subs: map[NetNS][]*Subscription{}, done: make(chan struct{}), stop: make(chan struct{})}
	if err := t.load(); err != nil {
		t.release()
		return nil, err
	}
	go t.read()
	return t, nil
}

// unsupported wraps a BPF error so callers can detect it and fall back.
func unsupported(what string, err error) error {
	hint := ""
	if errors.Is(err, os.ErrPermission) {
		hint = " (run as root, or grant CAP_BPF and CAP_PERFMON)"
	}
	return fmt.Errorf("%w: %s: %w%s", ErrUnsupported, what, err, hint)
}

func (t *Tracer) load() error {
	var err error
	if t.maps.events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "pktlab_events", Type: ebpf.RingBuf, MaxEntries: uint32(t.opts.RingSize)}); err != nil {
		return unsupported("create ring buffer", err)
	}
	if t.maps.netns, err = ebpf.NewMap(&ebpf.MapSpec{Name: "pktlab_netns", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: maxNetNS}); err != nil {
		return unsupported("create namespace map", err)
	}
	if t.maps.stats, err = ebpf.NewMap(&ebpf.MapSpec{Name: "pktlab_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: statBusy + uint32(len(progSpecs))}); err != nil {
		return unsupported("create stats map", err)
	}
	// The exact clock if the kernel has bpf_ktime_get_tai_ns, else the measured one.
	t.clk = taiClock()
	for i, s := range progSpecs {
		if s.congestion && !t.opts.Congestion {
			continue
		}
		for _, r := range []role{primary, backup} {
			p, err := t.loadProg(s, r, statBusy+int32(i))
			if err != nil && i == 0 && r == primary && t.clk.TAI {
				t.clk = monoClock()
				p, err = t.loadProg(s, r, statBusy+int32(i))
			}
			if err != nil {
				return err
			}
			t.progs = append(t.progs, p)
			if r == primary {
				t.primaries = append(t.primaries, p)
			}
			l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: s.tracepoint, Program: p})
			if err != nil {
				return unsupported("attach raw tracepoint "+s.tracepoint, err)
			}
			t.links = append(t.links, l)
		}
	}
	if t.rd, err = ringbuf.NewReader(t.maps.events); err != nil {
		return unsupported("map ring buffer", err)
	}
	return nil
}

var progNames = map[uint8]string{kindState: "state", kindRetransmit: "retransmit", kindSynAckRetransmit: "synack",
	kindResetSent: "rst_sent", kindResetReceived: "rst_recv", kindProbe: "probe", kindCongState: "cong",
	kindDestroy: "destroy", kindDrop: "drop"}

func (t *Tracer) loadProg(s progSpec, r role, busy int32) (*ebpf.Program, error) {
	name := "pktlab_" + progNames[s.kind]
	if r == backup {
		name = "pktlab_b_" + progNames[s.kind]
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         ebpf.RawTracepoint,
		Instructions: s.build(t.layout, t.maps, t.clk.TAI, r, busy),
		// bpf_probe_read_kernel is for GPL-compatible programs only.
		License: "GPL",
	})
	if err != nil {
		return nil, unsupported("load program for "+s.tracepoint, err)
	}
	return p, nil
}

// read is the one goroutine that takes records from the ring and delivers them.
func (t *Tracer) read() {
	defer close(t.done)
	var rec ringbuf.Record
	t.rd.SetDeadline(time.Now().Add(pollPeriod))
	for {
		if err := t.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.rd.SetDeadline(time.Now().Add(pollPeriod))
				continue
			}
			if errors.Is(err, ringbuf.ErrFlushed) {
				continue
			}
			return // closed
		}
		ev, err := t.layout.decode(rec.RawSample, t.clk.wall)
		if err != nil {
			t.unknown.Add(1)
			t.received.Add(1)
			continue
		}
		h := ev.EventHeader()
		t.mu.Lock()
		subs := t.subs[h.NetNS]
		t.mu.Unlock()
		if len(subs) == 0 {
			t.unknown.Add(1)
		}
		for i, s := range subs {
			if i > 0 {
				ev = clone(ev)
			}
			ev.EventHeader().Node = s.node
			select {
			case s.ch <- ev:
				t.delivered.Add(1)
			case <-s.done:
			case <-t.stop:
			}
		}
		t.received.Add(1)
	}
}

// clone copies an event for a second subscriber of the same namespace, so that
// each may keep and change its own.
func clone(ev Event) Event {
	switch e := ev.(type) {
	case *StateChange:
		c := *e
		return &c
	case *Retransmit:
		c := *e
		return &c
	case *SynAckRetransmit:
		c := *e
		return &c
	case *Reset:
		c := *e
		return &c
	case *Drop:
		c := *e
		return &c
	case *CongSample:
		c := *e
		return &c
	case *CongState:
		c := *e
		return &c
	case *Destroy:
		c := *e
		return &c
	}
	return ev
}

// NetNSOf returns the inode of the network namespace an open file refers to (a
// namespace fd, as testlab's Node.NetNSFd, or /proc/PID/ns/net).
func NetNSOf(fd int) (NetNS, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("ktrace: stat namespace fd %d: %w", fd, os.NewSyscallError("fstat", err))
	}
	return NetNS(st.Ino), nil
}

// Node is what SubscribeNode needs of a lab node; *testlab.Node has it.
type Node interface {
	Name() string
	NetNSFd() int
}

// SubscribeNode subscribes to the events of a lab node's namespace, named after it.
func (t *Tracer) SubscribeNode(n Node) (*Subscription, error) {
	ns, err := NetNSOf(n.NetNSFd())
	if err != nil {
		return nil, fmt.Errorf("ktrace: node %s: %w", n.Name(), err)
	}
	return t.Subscribe(ns, n.Name())
}

// Subscribe starts delivering the events of namespace ns, with Header.Node set to
// node. Two subscriptions to one namespace each get every event.
func (t *Tracer) Subscribe(ns NetNS, node string) (*Subscription, error) {
	if ns == 0 {
		return nil, errors.New("ktrace: subscribe: namespace inode 0")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("ktrace: subscribe: tracer closed")
	}
	if len(t.subs[ns]) == 0 {
		if err := t.maps.netns.Update(uint32(ns), uint64(0), ebpf.UpdateNoExist); err != nil {
			return nil, fmt.Errorf("ktrace: subscribe to namespace %d (%s): %w", ns, node, err)
		}
	}
	s := &Subscription{t: t, ns: ns, node: node, ch: make(chan Event, t.opts.Buffer), done: make(chan struct{})}
	t.subs[ns] = append(t.subs[ns], s)
	return s, nil
}

// Events is the channel of the subscription's events, in the order the kernel
// wrote them (per socket, the order things happened; across CPUs, Time may step
// back by a few microseconds: sort by Time to merge). It is closed by the
// Tracer's Close, and receives nothing more after the subscription's Close.
func (s *Subscription) Events() <-chan Event { return s.ch }

// NetNS is the subscription's namespace.
func (s *Subscription) NetNS() NetNS { return s.ns }

// Lost is the number of this namespace's events the kernel could not put in the
// ring buffer since the first subscription to it.
func (s *Subscription) Lost() uint64 {
	var v uint64
	if err := s.t.maps.netns.Lookup(uint32(s.ns), &v); err != nil {
		return 0
	}
	return v
}

// Close stops delivery to this subscription; the namespace is no longer traced
// once its last subscription is closed. Safe twice.
func (s *Subscription) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		t := s.t
		t.mu.Lock()
		defer t.mu.Unlock()
		list := t.subs[s.ns]
		for i, x := range list {
			if x == s {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) > 0 {
			t.subs[s.ns] = list
			return
		}
		delete(t.subs, s.ns)
		if !t.closed {
			if derr := t.maps.netns.Delete(uint32(s.ns)); derr != nil && !errors.Is(derr, ebpf.ErrKeyNotExist) {
				err = fmt.Errorf("ktrace: unsubscribe namespace %d: %w", s.ns, derr)
			}
		}
	})
	return err
}

// Stats sums the counters. Lost is what matters: events the kernel had no room
// for.
func (t *Tracer) Stats() Stats {
	st := Stats{Received: t.received.Load(), Delivered: t.delivered.Load(), Unknown: t.unknown.Load()}
	st.Lost = t.counter(statLost)
	st.Emitted = t.counter(statEmitted)
	st.Rescued = t.counter(statRescued)
	var skipped uint64
	for _, p := range t.primaries {
		if ps, err := p.Stats(); err == nil {
			skipped += ps.RecursionMisses
		}
	}
	if skipped > st.Rescued {
		st.Missed = skipped - st.Rescued
	}
	return st
}

func (t *Tracer) counter(slot uint32) uint64 {
	var per []uint64
	if err := t.maps.stats.Lookup(slot, &per); err != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// Clock says how event times were converted to CLOCK_REALTIME: exactly from
// CLOCK_TAI, or from CLOCK_MONOTONIC with an error of at most bound.
func (t *Tracer) Clock() (tai bool, bound time.Duration) { return t.clk.TAI, t.clk.Bound }

// Drain returns once every record the programs submitted before the call has been
// delivered (or counted as Unknown), so a caller that stopped its traffic can
// collect the last events; it returns ctx's error if that takes too long.
func (t *Tracer) Drain(ctx context.Context) error {
	target := t.counter(statEmitted)
	if err := t.rd.Flush(); err != nil {
		return fmt.Errorf("ktrace: drain: %w", err)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for t.received.Load() < target {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ktrace: drain: %d of %d records read: %w", t.received.Load(), target, ctx.Err())
		case <-t.done:
			return errors.New("ktrace: drain: tracer closed")
		case <-tick.C:
		}
	}
	return nil
}

// Close detaches every program and frees every map and link; the subscriptions'
// channels are closed. Safe twice.
func (t *Tracer) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	err := t.release()
	t.mu.Lock()
	for _, list := range t.subs {
		for _, s := range list {
			close(s.ch)
		}
	}
	t.subs = nil
	t.mu.Unlock()
	return err
}

func (t *Tracer) allMaps() []*ebpf.Map {
	var out []*ebpf.Map
	for _, m := range []*ebpf.Map{t.maps.events, t.maps.netns, t.maps.stats} {
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// release detaches first (no new events), then stops the reader, then frees the
// programs and maps.
func (t *Tracer) release() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	if t.rd != nil {
		errs = append(errs, t.rd.Close())
		<-t.done
	}
	for _, p := range t.progs {
		errs = append(errs, p.Close())
	}
	t.progs, t.primaries = nil, nil
	for _, m := range t.allMaps() {
		errs = append(errs, m.Close())
	}
	t.maps = progMaps{}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ktrace: close: %w", err)
	}
	return nil
}
