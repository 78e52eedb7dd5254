package experiment

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/timeline"
)

// tracers receive nftables trace events from the traced nodes into the timeline, where
// trace expectations read them.
type tracers struct {
	list []*filter.Tracer
	wg   sync.WaitGroup
}

func (r *run) startTracers(ctx context.Context) error {
	t := &tracers{}
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
				r.tl.Add(e.Time, node, e.Record())
			}
		}(nt.Node)
	}
	return nil
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

// paths groups the node's verdicts on the timeline by packet, in the order packets
// first appeared.
func (r *run) paths(node string) []timeline.Path {
	var vs []*timeline.Verdict
	for _, e := range r.tl.Select(timeline.KindVerdict) {
		if e.Node == node {
			vs = append(vs, e.Data.(*timeline.Verdict))
		}
	}
	return timeline.Paths(vs)
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
	paths := r.paths(m.Node)
	n := 0
	var lines []string
	for _, p := range paths {
		hooks, chains, verdicts := p.Hooks(), p.Chains(), p.RuleVerdicts()
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
