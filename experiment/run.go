package experiment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

// Options change how a file runs. The zero value is fine.
type Options struct {
	// LabName names the lab; "" derives a unique one from the file name, so several
	// files (or the same file twice) can run at once.
	LabName string
	// Keep leaves the lab up after the run (Result.Lab); the caller closes it.
	Keep bool
	// Progress, when set, is told about long waits (sleep, wait) every second:
	// what is waited for, elapsed and expected time. It must not block.
	Progress func(what string, elapsed, total time.Duration)
	// Tracer, when set, is the kernel tracer the run subscribes its nodes to (one
	// for many runs saves loading the programs each time); nil opens one for the
	// run. Congestion adds congestion samples to the timeline (the tracer must
	// have been opened with ktrace.Options.Congestion).
	Tracer     *ktrace.Tracer
	Congestion bool
	// Watch, when set, is called once with the lab's name and the run's timeline as
	// soon as the timeline exists, before any frame is captured or step run: a
	// command streams the run from there (timeline.Watch). The Result holds the same
	// timeline, every event kept.
	Watch func(lab string, tl *timeline.Timeline)
}

// ErrInterrupted is the error of a run its caller's context ended before the run
// did (Ctrl-C): the Result holds the timeline so far and the outcomes checked until
// then; the expectations of the end of the run were not checked.
var ErrInterrupted = errors.New("run interrupted")

// Result is what a run saw and how each expectation came out.
type Result struct {
	File     *File
	LabName  string
	Lab      *testlab.Lab // non-nil only with Options.Keep
	Timeline *timeline.Timeline
	Outcomes []Outcome
	Duration time.Duration
	// Polled says why kernel TCP states came from a sock_diag poll instead of the
	// kernel's tracepoints (ktrace): "" when they were traced.
	Polled string
}

// Passed reports whether every expectation held.
func (r *Result) Passed() bool {
	for _, o := range r.Outcomes {
		if !o.Pass {
			return false
		}
	}
	return true
}

// Outcome is one expectation's result.
type Outcome struct {
	Expect *Expect
	Where  string // "end of run", or the step after which it was checked
	Pass   bool
	Want   string // what was expected, in words
	Seen   string // what was seen (always filled, so a pass also shows the evidence)
}

// run is the state of one experiment run.
type run struct {
	f      *File
	opts   Options
	lab    *testlab.Lab
	tl     *timeline.Timeline
	caps   *captures
	poll   *statePoller
	kern   *kernelEvents
	polled string // why the poll replaced kernel tracing
	traces *tracers
	ct     *ctWatch

	usStart sync.Mutex // held while a node's userspace host is looked up, started and stored

	mu     sync.Mutex // guards agents, us, psocks, out
	agents map[string]*agent.Agent
	us     map[string]*usNode
	psocks map[string]*psock // the file's packet sockets, by name
	out    []Outcome
}

// Run builds the lab of f, runs the steps, checks the expectations and removes the lab
// (unless opts.Keep). An error means the run itself failed (lab, capture, a step that
// could not be carried out); failed expectations are in the Result, not errors.
func Run(ctx context.Context, f *File, opts Options) (*Result, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	name := opts.LabName
	if name == "" {
		name = labName(f.Path)
	}
	topo, err := f.Lab.WithName(name)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: lab: %w", f.Path, err)
	}
	lab, err := testlab.Start(ctx, topo)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: start lab %s: %w", f.Path, name, err)
	}
	res := &Result{File: f, LabName: name}
	if opts.Keep {
		res.Lab = lab
	} else {
		defer lab.Close()
	}
	r := &run{f: f, opts: opts, lab: lab, agents: map[string]*agent.Agent{}, us: map[string]*usNode{}, psocks: map[string]*psock{}}
	defer r.closeAgents()
	begin := time.Now()
	if err := r.setup(ctx); err != nil {
		r.ct.stop()
		r.poll.stop()
		r.kern.stop(ctx)
		r.traces.stop()
		r.caps.stop()
		return nil, err
	}
	res.Timeline = r.tl
	res.Polled = r.polled
	err = r.steps(ctx, f.Steps)
	if parent.Err() != nil {
		// The caller ended the run (a signal): what it saw is only part of the
		// experiment, so the expectations at its end are not checked, not failed.
		err = fmt.Errorf("%w: %w", ErrInterrupted, context.Cause(parent))
	}
	// Let frames still in flight (a last ACK, an RST) reach the captures, and the
	// capture readers catch up with what the kernel queued.
	time.Sleep(150 * time.Millisecond)
	r.caps.sync(5 * time.Second)
	r.kern.syncFor(ctx, 2*time.Second)
	r.kern.noteLosses()
	for _, ps := range r.psocks {
		ps.sync(2 * time.Second)
	}
	if err == nil {
		for _, e := range f.Expect {
			r.check(ctx, e, "end of run")
		}
	}
	r.closeUserspace()
	r.closePacketSockets()
	r.ct.stop()
	r.poll.stop()
	r.kern.stop(ctx)
	r.traces.stop()
	if cerr := r.caps.stop(); cerr != nil && err == nil {
		err = fmt.Errorf("experiment %s: %w", f.Path, cerr)
	}
	res.Outcomes = r.out
	res.Duration = time.Since(begin)
	return res, err
}

// setup applies sysctls and rulesets, then starts captures and the state poller.
func (r *run) setup(ctx context.Context) error {
	for _, s := range r.f.Sysctls {
		if err := r.lab.Node(s.Node).SetSysctl(s.Key, s.Value); err != nil {
			return fmt.Errorf("%s: sysctl %s=%s on %s: %w", s.Pos, s.Key, s.Value, s.Node, err)
		}
	}
	for _, n := range r.f.NFT {
		if err := filter.ApplyText(ctx, r.lab.Node(n.Node), n.Ruleset); err != nil {
			return fmt.Errorf("%s: %w", n.Pos, err)
		}
	}
	eps := endpoints(r.lab.Topology(), r.f.Capture)
	// The start without its monotonic reading: frames carry the kernel's wall-clock
	// stamps, so every event's time since the start (a call's, stamped by
	// time.Now(), as a frame's) is then a difference of wall clocks, the one the JSON
	// lines write and pktlab report reads back; with the reading, a call's would be
	// on the monotonic clock, apart from the wall clock by its slew.
	r.tl = timeline.New(time.Now().Round(0), eps)
	if r.opts.Watch != nil {
		r.opts.Watch(r.lab.Name(), r.tl)
	}
	caps, err := startCaptures(r.lab, r.tl)
	if err != nil {
		return fmt.Errorf("experiment %s: %w", r.f.Path, err)
	}
	r.caps = caps
	if r.polled, err = r.startKernelOrPoll(); err != nil {
		return err
	}
	r.ct = r.startConntrack()
	return r.startTracers(ctx)
}

// endpoints lists the captured interfaces with the index of each one's link peer.
func endpoints(t *testlab.Topology, capture []testlab.Endpoint) []timeline.Endpoint {
	idx := map[testlab.Endpoint]int{}
	var out []timeline.Endpoint
	for i, ep := range capture {
		idx[ep] = i
		out = append(out, timeline.Endpoint{Node: ep.Node, Iface: ep.Interface, Peer: -1})
	}
	for _, l := range t.Links {
		a, okA := idx[l.A]
		b, okB := idx[l.B]
		if okA && okB {
			out[a].Peer, out[b].Peer = b, a
		}
	}
	return out
}

func (r *run) agent(node string) *agent.Agent {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.agents[node]
	if a == nil {
		n := r.lab.Node(node)
		a = agent.New(agent.Config{Node: node, Do: n.Do, Emit: r.tl.AddCall})
		r.agents[node] = a
	}
	return a
}

func (r *run) closeAgents() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.agents {
		a.Close()
	}
}

// labName derives a unique lab name from the file name: "x-c1-1a2b3c".
func labName(path string) string {
	base := strings.ToLower(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	var b strings.Builder
	for _, c := range base {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteRune(c)
		}
	}
	s := b.String()
	if len(s) > 10 {
		s = s[:10]
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	return "x-" + s + "-" + hex.EncodeToString(rnd[:])
}
