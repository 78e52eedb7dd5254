package experiment

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/timeline"
)

func (r *run) check(ctx context.Context, e *Expect, where string) {
	o := r.evaluate(ctx, e)
	o.Where = where
	r.record(o)
}

func (r *run) record(o Outcome) {
	r.mu.Lock()
	r.out = append(r.out, o)
	r.mu.Unlock()
	r.tl.Add(time.Now(), "", &timeline.Outcome{Pass: o.Pass, Pos: o.Expect.Pos.String(), Where: o.Where, Want: o.Want, Seen: o.Seen})
}

// evaluate checks one expectation against what has been seen so far.
func (r *run) evaluate(ctx context.Context, e *Expect) Outcome {
	o := Outcome{Expect: e}
	o.Want, o.Pass, o.Seen = e.Check.check(ctx, r)
	if e.Desc != "" {
		o.Want = e.Desc + ": " + o.Want
	}
	return o
}

// checkCall compares a step's result with the expectation.
func (r *run) checkCall(m *CallMatch) (want string, pass bool, seen string) {
	var parts []string
	if m.Errno != "" {
		parts = append(parts, "errno "+m.Errno)
	}
	if m.Ret != nil {
		parts = append(parts, fmt.Sprintf("return %d", *m.Ret))
	}
	if m.Data != nil {
		parts = append(parts, fmt.Sprintf("data %q", *m.Data))
	}
	if m.Info != "" {
		parts = append(parts, fmt.Sprintf("result mentioning %q", m.Info))
	}
	if m.Blocked != nil {
		parts = append(parts, map[bool]string{true: "still blocked at its timeout", false: "not blocked"}[*m.Blocked])
	}
	want = fmt.Sprintf("step %s: %s", m.Step, strings.Join(parts, ", "))
	c, ok := r.stepCall(m.Step)
	if !ok {
		return want, false, "the step made no socket call (did it run?)"
	}
	seen = c.String()
	errno := c.ErrnoName()
	if errno == "" {
		errno = "0"
	}
	if callFailed(c) && (m.Errno == "0" || !m.expectsFailure()) {
		// errno 0 means success, and a check of data or info alone says nothing
		// about a call that failed: the step's failure is the observation.
		return want, false, seen + " (the step failed)"
	}
	pass = (m.Errno == "" || m.Errno == errno) &&
		(m.Ret == nil || *m.Ret == c.Ret) &&
		(m.Data == nil || *m.Data == string(c.Data)) &&
		(m.Info == "" || strings.Contains(c.Info, m.Info)) &&
		(m.Blocked == nil || *m.Blocked == c.Timed)
	return want, pass, seen
}

// stepCall is the result of the step with this id, read from its calls on the
// timeline (Call.Step): the call that failed and ended the step, else its main call,
// which is the last but for a socket step's (socket(2), before its options and bind).
func (r *run) stepCall(id string) (timeline.Call, bool) {
	var calls []*timeline.Call
	for _, e := range r.tl.Select(timeline.KindCall) {
		if c := e.Data.(*timeline.Call); c.Step == id {
			calls = append(calls, c)
		}
	}
	if len(calls) == 0 {
		return timeline.Call{}, false
	}
	last := calls[len(calls)-1]
	if s := r.f.step(id); s != nil && s.Action == ActSocket && !callFailed(*last) {
		return *calls[0], true
	}
	return *last, true
}

// callFailed reports a call that did not succeed: an errno, still blocked at its
// timeout, or a negative return without an errno (a program that could not run or was
// killed, a userspace TCP error).
func callFailed(c agent.Call) bool { return !c.OK() || c.Ret < 0 }

// expectsFailure reports whether m asks for a failure: an errno other than 0, a
// negative return value, or still blocked at the timeout.
func (m *CallMatch) expectsFailure() bool {
	return m.Errno != "" && m.Errno != "0" || m.Ret != nil && *m.Ret < 0 || m.Blocked != nil && *m.Blocked
}

// checkSocket reads the node's kernel TCP table now.
func (r *run) checkSocket(m *SocketMatch) (want string, pass bool, seen string) {
	want = fmt.Sprintf("on %s, %s TCP socket(s)", m.Node, countWord(m.Count))
	if m.State != "" {
		want += " in " + m.State
	}
	if m.Local.IsValid() {
		want += " local " + m.Local.String()
	}
	if m.Remote.IsValid() {
		want += " remote " + m.Remote.String()
	}
	if m.MinTimer > 0 {
		want += fmt.Sprintf(" with at least %s left on the timer", m.MinTimer)
	}
	socks, err := sockdiag.ListAt(r.lab.Node(m.Node).NetNSFd())
	if err != nil {
		return want, false, err.Error()
	}
	st, _ := sockdiag.ParseState(m.State)
	got := sockdiag.Filter(socks, sockdiag.Match{Local: m.Local, Remote: m.Remote, State: st})
	n := 0
	for _, s := range got {
		if s.Expires >= m.MinTimer {
			n++
		}
	}
	pass = m.Count.holds(n)
	var lines []string
	for _, s := range socks {
		lines = append(lines, s.String())
	}
	if len(lines) == 0 {
		lines = []string{"no TCP sockets"}
	}
	return want, pass, fmt.Sprintf("%d matching; %s's table: %s", n, m.Node, strings.Join(lines, "; "))
}

func countWord(c Exactly) string { return c.String() }
