package experiment

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/timeline"
)

// steps runs steps in order. It stops at the first step that cannot be carried out
// (not at a failed errno: that is an observation).
func (r *run) steps(ctx context.Context, steps []*Step) error {
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: run timed out before step %s (timeout %s; raise timeout: in the file)", s.Pos, s.Label(), r.f.Timeout)
		}
		if err := r.step(ctx, s); err != nil {
			return err
		}
		for _, e := range s.Expect {
			r.check(ctx, e, "after step "+s.Label())
		}
	}
	return nil
}

func (r *run) step(ctx context.Context, s *Step) error {
	now := time.Now()
	if s.ID != "" {
		r.mu.Lock()
		r.started[s.ID] = now
		r.mu.Unlock()
	}
	r.tl.Add(now, s.Node, &timeline.Step{Action: string(s.Action), Text: describe(s)})
	switch s.Action {
	case ActSleep:
		r.wait(ctx, fmt.Sprintf("sleep %s", s.Duration), s.Duration, nil)
		return nil
	case ActWait:
		r.waitStep(ctx, s, now)
		return nil
	case ActParallel:
		return r.parallel(ctx, s)
	case ActSysctl:
		for _, kv := range s.Sysctls {
			if err := r.lab.Node(s.Node).SetSysctl(kv.Key, kv.Value); err != nil {
				return fmt.Errorf("%s: sysctl %s=%s on %s: %w", s.Pos, kv.Key, kv.Value, s.Node, err)
			}
		}
		return nil
	case ActCraft:
		if err := sendCraft(ctx, r.lab.Node(s.Node), s.Craft); err != nil {
			return fmt.Errorf("%s: craft on %s: %w", s.Pos, s.Node, err)
		}
		r.tl.Note(time.Now(), s.Node, "sent crafted "+s.Craft.String())
		return nil
	case ActNFT:
		if err := applyNFT(ctx, r.lab.Node(s.Node), s.Ruleset); err != nil {
			return fmt.Errorf("%s: %w", s.Pos, err)
		}
		return nil
	case ActExec:
		return r.execStep(ctx, s, now)
	}
	return r.callStep(ctx, s, now)
}

// waitStep polls its expectation until it holds or the step's timeout, and records
// the outcome.
func (r *run) waitStep(ctx context.Context, s *Step, start time.Time) {
	ok := r.wait(ctx, "wait until "+s.Until.Kind().String(), s.Timeout, func() bool {
		return r.evaluate(ctx, s.Until).Pass
	})
	o := r.evaluate(ctx, s.Until)
	o.Where = fmt.Sprintf("wait step at %s, after %s", s.Pos, time.Since(start).Round(time.Millisecond))
	if !ok {
		o.Pass = false
		o.Seen = fmt.Sprintf("not reached within %s; last seen: %s", s.Timeout, o.Seen)
	}
	r.record(o)
}

// execStep runs a program in the node and records the run as a call: ret is the exit
// status and info the combined output, which call expectations of the step read.
func (r *run) execStep(ctx context.Context, s *Step, start time.Time) error {
	sctx, cancel := context.WithTimeout(ctx, s.Timeout)
	out, err := r.lab.Node(s.Node).Exec(sctx, s.Argv...)
	cancel()
	r.tl.AddCall(execCall(agent.Call{Start: start, Dur: time.Since(start), Node: s.Node, Sock: s.Argv[0], Op: "exec",
		Args: strings.Join(s.Argv[1:], " "), Info: string(out), Step: s.ID}, err))
	if err != nil && s.MustOK {
		return fmt.Errorf("%s: exec %s on %s failed: %v", s.Pos, strings.Join(s.Argv, " "), s.Node, err)
	}
	return nil
}

// callStep carries out a step whose calls go on the timeline, carrying the step's id
// (stepCall): a socket of the node's agent, a packet socket of the file, or a
// userspace TCP connection.
func (r *run) callStep(ctx context.Context, s *Step, start time.Time) error {
	stop := r.progress(s, start)
	defer stop()
	var err error
	switch {
	case s.Action == ActPktOpen:
		err = r.packetOpen(s)
	case s.Action == ActPktClose:
		err = r.packetClose(s)
	case strings.HasPrefix(string(s.Action), "us_"):
		err = r.usStep(ctx, s)
	default:
		err = r.sockStep(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", s.Pos, s.Label(), err)
	}
	return nil
}

// execCall fills in how a program run ended: its exit status as the return value;
// one that could not be started (no such file, not executable) returns -1 with the
// errno execve(2) or the lookup reported, and one killed by a signal returns -1 with
// the error in its info, so that no expectation reads either as a success.
func execCall(c agent.Call, err error) agent.Call {
	if err == nil {
		return c
	}
	c.Ret = -1
	var ee *exec.ExitError
	var en syscall.Errno
	switch {
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		c.Ret = ee.ExitCode()
	case errors.As(err, &en):
		c.Errno = en
	default:
		c.Info = strings.TrimSpace(c.Info + "\n" + err.Error())
	}
	return c
}

// describe is the timeline's line for a step.
func describe(s *Step) string {
	var b strings.Builder
	if s.ID != "" {
		fmt.Fprintf(&b, "[%s] ", s.ID)
	}
	if s.Node != "" {
		b.WriteString(s.Node + ": ")
	}
	b.WriteString(string(s.Action))
	if s.Sock != "" {
		b.WriteString(" " + s.Sock)
	}
	if c := s.conn(); c != nil && c.Addr.IsValid() {
		b.WriteString(" " + c.Addr.String())
	}
	switch s.Action {
	case ActSleep:
		b.WriteString(" " + s.Duration.String())
	case ActUSInput:
		b.WriteString(" " + s.Input)
	case ActPktOpen:
		b.WriteString(" on " + s.Iface + ": " + s.Packet.String())
	case ActExec:
		b.WriteString(" " + strings.Join(s.Argv, " "))
	case ActSysctl:
		for _, kv := range s.Sysctls {
			fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value)
		}
	}
	return b.String()
}

// wait sleeps for d, or until cond holds (polled every 10 ms), reporting progress on
// long waits. It returns whether cond held (true for a plain sleep that ran out).
func (r *run) wait(ctx context.Context, what string, d time.Duration, cond func() bool) bool {
	start := time.Now()
	deadline := start.Add(d)
	lastReport := start
	for {
		if cond != nil && cond() {
			return true
		}
		now := time.Now()
		if !now.Before(deadline) || ctx.Err() != nil {
			return cond == nil
		}
		if r.opts.Progress != nil && d >= 2*time.Second && now.Sub(lastReport) >= time.Second {
			r.opts.Progress(what, now.Sub(start), d)
			lastReport = now
		}
		step := 10 * time.Millisecond
		if cond == nil {
			step = min(deadline.Sub(now), 100*time.Millisecond)
		}
		select {
		case <-ctx.Done():
		case <-time.After(step):
		}
	}
}

// parallel runs each branch in its own goroutine and waits for all.
func (r *run) parallel(ctx context.Context, s *Step) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.Branches))
	for i, b := range s.Branches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.steps(ctx, b)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sockStep carries out an agent action through a view of the node's agent that puts
// the step's id on each of its calls.
func (r *run) sockStep(ctx context.Context, s *Step) error {
	do := sockActions[s.Action]
	if do == nil {
		return fmt.Errorf("action %s is not an agent action", s.Action)
	}
	sctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	_, err := do(r.agent(s.Node).ForStep(s.ID), sctx, s)
	return err
}

// sockActions carry out each agent action, with ctx bounded by the step's timeout.
// Each returns the step's result: its main call, or the first one that failed on the
// way (socket, setsockopt, bind), after which it makes no other; stepCall finds the
// same call on the timeline.
var sockActions = map[Action]func(a *agent.Agent, ctx context.Context, s *Step) (agent.Call, error){
	ActSocket: func(a *agent.Agent, _ context.Context, s *Step) (agent.Call, error) {
		c, _, err := openSock(a, s, s.kind())
		return c, err
	},
	ActListen: func(a *agent.Agent, _ context.Context, s *Step) (agent.Call, error) {
		if c, ok, err := openSock(a, s, agent.TCP); !ok {
			return c, err
		}
		if c, err := a.Bind(s.Sock, s.Socket.Addr); err != nil || !c.OK() {
			return c, err
		}
		return a.Listen(s.Sock, s.Socket.Backlog)
	},
	ActConnect: func(a *agent.Agent, ctx context.Context, s *Step) (agent.Call, error) {
		if !slices.Contains(a.Sockets(), s.Sock) {
			if c, ok, err := openSock(a, s, s.kind()); !ok {
				return c, err
			}
		} else if c, ok, err := setOpts(a, s); !ok {
			return c, err
		}
		return observed(a.Connect(ctx, s.Sock, s.Socket.Addr, s.Nonblock))
	},
	ActAccept: func(a *agent.Agent, ctx context.Context, s *Step) (agent.Call, error) {
		return observed(a.Accept(ctx, s.Sock, s.Socket.As))
	},
	ActSend: func(a *agent.Agent, ctx context.Context, s *Step) (agent.Call, error) {
		var to *netip.AddrPort
		if s.HasTo {
			to = &s.To
		}
		return a.SendFlags(ctx, s.Sock, s.Socket.payload(), to, s.Nonblock, s.Flags)
	},
	ActRecv: func(a *agent.Agent, ctx context.Context, s *Step) (agent.Call, error) {
		return a.RecvFlags(ctx, s.Sock, s.Socket.Size, s.Nonblock, s.Flags)
	},
	ActShutdown: func(a *agent.Agent, _ context.Context, s *Step) (agent.Call, error) {
		how := map[string]agent.How{"rd": agent.ShutRD, "wr": agent.ShutWR, "rdwr": agent.ShutRDWR}[s.How]
		return a.Shutdown(s.Sock, how)
	},
	ActClose: func(a *agent.Agent, _ context.Context, s *Step) (agent.Call, error) { return a.CloseSocket(s.Sock) },
	ActSetsockopt: func(a *agent.Agent, _ context.Context, s *Step) (agent.Call, error) {
		c, _, err := setOpts(a, s)
		return c, err
	},
	ActSockError: func(a *agent.Agent, _ context.Context, s *Step) (agent.Call, error) { return a.SocketError(s.Sock) },
	ActEpoll: func(a *agent.Agent, ctx context.Context, s *Step) (agent.Call, error) {
		var ev uint32
		for _, e := range s.Events {
			b, _ := agent.ParseEvent(e)
			ev |= b
		}
		if ev == 0 {
			ev = agent.DefaultEpollEvents
		}
		mode := agent.Level
		if s.Mode == "edge" {
			mode = agent.Edge
		}
		return a.EpollWait(ctx, s.Sock, mode, ev, s.Timeout)
	},
}

// kind is the socket type a step opens.
func (s *Step) kind() agent.Kind {
	if s.UDP {
		return agent.UDP
	}
	return agent.TCP
}

// openSock opens the step's socket with its options and bind; ok false returns the
// call that failed.
func openSock(a *agent.Agent, s *Step, kind agent.Kind) (agent.Call, bool, error) {
	fam := 4
	if s.V6 {
		fam = 6
	}
	c, err := a.Open(s.Sock, kind, fam)
	if err != nil || !c.OK() {
		return c, false, err
	}
	if c, ok, err := setOpts(a, s); !ok {
		return c, false, err
	}
	if s.Socket.HasBind {
		if c, err := a.Bind(s.Sock, s.Socket.Bind); err != nil || !c.OK() {
			return c, false, err
		}
	}
	return c, true, nil
}

// setOpts sets the step's socket options in order; ok false returns the call that
// failed, else the last one.
func setOpts(a *agent.Agent, s *Step) (agent.Call, bool, error) {
	var last agent.Call
	for _, o := range s.Opts {
		var c agent.Call
		var err error
		if agent.NamedOpt(agent.Opt(o.Name)) {
			c, err = a.SetOptName(s.Sock, agent.Opt(o.Name), o.Text)
		} else {
			c, err = a.SetOpt(s.Sock, agent.Opt(o.Name), o.Value)
		}
		if err != nil || !c.OK() {
			return c, false, err
		}
		last = c
	}
	return last, true, nil
}

// observed makes a call still blocked at the step's timeout an observation, not an
// error.
func observed(c agent.Call, err error) (agent.Call, error) {
	if err != nil && c.Timed {
		return c, nil
	}
	return c, err
}

func (k ExpectKind) String() string { return string(k) }

// progress reports a blocking step that takes more than two seconds (a SYN timing
// out, a keepalive, a blocked read) every second until it ends; stop ends the reports.
func (r *run) progress(s *Step, start time.Time) (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if el := now.Sub(start); el >= 2*time.Second {
					r.opts.Progress(fmt.Sprintf("%s (blocked, up to its timeout)", s.Label()), el, s.Timeout)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
