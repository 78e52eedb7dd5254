package experiment

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/timeline"
)

// tracers receive nftables trace events from the traced nodes into the timeline and
// keep them for trace expectations.
type tracers struct {
	mu     sync.Mutex // guards events
	events map[string][]filter.TraceEvent

	list []*filter.Tracer
	wg   sync.WaitGroup
}

func (r *run) startTracers(ctx context.Context) error {
	t := &tracers{events: map[string][]filter.TraceEvent{}}
	r.traces = t
	for _, nt := range r.f.Trace {
		conn, err := filter.ForNode(r.lab.Node(nt.Node))
		if err != nil {
			return fmt.Errorf("%s: trace on %s: %w", nt.Pos, nt.Node, err)
		}
		tr, err := conn.Trace(context.Background(), nt.Expr)
		if err != nil {
			return fmt.Errorf("%s: trace on %s: %w", nt.Pos, nt.Node, err)
		}
		t.list = append(t.list, tr)
		t.wg.Add(1)
		go func(node string) {
			defer t.wg.Done()
			for e := range tr.Events() {
				t.mu.Lock()
				t.events[node] = append(t.events[node], e)
				t.mu.Unlock()
				r.tl.Add(e.Time, timeline.KindVerdict, node, traceText(e))
			}
		}(nt.Node)
	}
	return nil
}

// traceText is the timeline's line for a trace event, without the trace id (the
// timeline says which packet it is by its place).
func traceText(e filter.TraceEvent) string {
	s := e.String()
	prefix := fmt.Sprintf("trace id %08x ", e.ID)
	return fmt.Sprintf("[pkt %08x] %s", e.ID, strings.TrimPrefix(s, prefix))
}

func (t *tracers) stop() {
	if t == nil {
		return
	}
	for _, tr := range t.list {
		tr.Close()
	}
	t.wg.Wait()
}

func (t *tracers) paths(node string) []filter.Path {
	t.mu.Lock()
	defer t.mu.Unlock()
	return filter.GroupPaths(t.events[node])
}

// checkTrace counts the node's traced packets whose path matches.
func (r *run) checkTrace(m *TraceMatch) (want string, pass bool, seen string) {
	var parts []string
	if m.Hooks != nil {
		parts = append(parts, "hooks "+strings.Join(m.Hooks, " → "))
	}
	if m.Chains != nil {
		parts = append(parts, "chains "+strings.Join(m.Chains, " → "))
	}
	if m.Verdicts != nil {
		parts = append(parts, "rule verdicts "+strings.Join(m.Verdicts, ", "))
	}
	if m.Final != "" {
		parts = append(parts, "final verdict "+m.Final)
	}
	want = fmt.Sprintf("on %s, %s traced packet(s) with %s", m.Node, countWord(m.Count), strings.Join(parts, ", "))
	paths := r.traces.paths(m.Node)
	n := 0
	var lines []string
	for _, p := range paths {
		hooks, chains, verdicts := p.Hooks(), pathChains(p), pathVerdicts(p)
		ok := (m.Hooks == nil || strings.Join(m.Hooks, ",") == strings.Join(hooks, ",")) &&
			(m.Chains == nil || strings.Join(m.Chains, ",") == strings.Join(chains, ",")) &&
			(m.Verdicts == nil || strings.Join(m.Verdicts, ",") == strings.Join(verdicts, ",")) &&
			(m.Final == "" || m.Final == p.Final())
		if ok {
			n++
		}
		if len(lines) < 8 {
			lines = append(lines, fmt.Sprintf("\n      packet %08x: hooks %s; chains %s; rule verdicts %s; final %s",
				p.ID, strings.Join(hooks, " → "), strings.Join(chains, " → "), strings.Join(verdicts, ", "), p.Final()))
		}
	}
	pass = m.Count.holds(n)
	seen = fmt.Sprintf("%d matching of %d traced packet(s)%s", n, len(paths), strings.Join(lines, ""))
	return want, pass, seen
}

func pathChains(p filter.Path) []string {
	var out []string
	for _, e := range p.Events {
		if len(out) == 0 || out[len(out)-1] != e.Chain {
			out = append(out, e.Chain)
		}
	}
	return out
}

func pathVerdicts(p filter.Path) []string {
	var out []string
	for _, e := range p.Events {
		if e.Type == filter.TraceRule {
			out = append(out, e.Verdict)
		}
	}
	return out
}
