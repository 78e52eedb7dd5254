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
				r.tl.Add(e.Time, node, verdictOf(e))
			}
		}(nt.Node)
	}
	return nil
}

// verdictOf is the timeline's record of a trace event.
func verdictOf(e filter.TraceEvent) *timeline.Verdict {
	v := &timeline.Verdict{ID: e.ID, Family: e.Family.String(), Table: e.Table, Chain: e.Chain, Hook: e.Hook,
		RuleHandle: e.RuleHandle, Rule: e.Rule, Verdict: e.Verdict, Policy: e.Policy, Mark: e.Mark}
	switch e.Type {
	case filter.TraceRule:
		v.Type = timeline.TraceRule
	case filter.TraceReturn:
		v.Type = timeline.TraceReturn
	case filter.TracePolicy:
		v.Type = timeline.TracePolicy
	}
	return v
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

// tracePath is one traced packet's events, in order.
type tracePath struct {
	id     uint32
	events []*timeline.Verdict
}

// paths groups the node's verdicts on the timeline by packet, in the order packets
// first appeared.
func (r *run) paths(node string) []tracePath {
	idx := map[uint32]int{}
	var out []tracePath
	for _, e := range r.tl.Select(timeline.KindVerdict) {
		if e.Node != node {
			continue
		}
		v := e.Data.(*timeline.Verdict)
		i, ok := idx[v.ID]
		if !ok {
			i = len(out)
			idx[v.ID] = i
			out = append(out, tracePath{id: v.ID})
		}
		out[i].events = append(out[i].events, v)
	}
	return out
}

// hooks are the hooks the packet went through, in order, without repeats.
func (p tracePath) hooks() []string {
	var out []string
	for _, e := range p.events {
		if e.Hook != "" && (len(out) == 0 || out[len(out)-1] != e.Hook) {
			out = append(out, e.Hook)
		}
	}
	return out
}

// final is the verdict that ended the packet's last hook: the policy or the last
// accept/drop verdict.
func (p tracePath) final() string {
	for i := len(p.events) - 1; i >= 0; i-- {
		e := p.events[i]
		if e.Type == timeline.TracePolicy {
			return e.Policy
		}
		if e.Verdict == "accept" || e.Verdict == "drop" {
			return e.Verdict
		}
	}
	return ""
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
		hooks, chains, verdicts := p.hooks(), pathChains(p), pathVerdicts(p)
		ok := (m.Hooks == nil || strings.Join(m.Hooks, ",") == strings.Join(hooks, ",")) &&
			(m.Chains == nil || strings.Join(m.Chains, ",") == strings.Join(chains, ",")) &&
			(m.Verdicts == nil || strings.Join(m.Verdicts, ",") == strings.Join(verdicts, ",")) &&
			(m.Final == "" || m.Final == p.final())
		if ok {
			n++
		}
		if len(lines) < 8 {
			lines = append(lines, fmt.Sprintf("\n      packet %08x: hooks %s; chains %s; rule verdicts %s; final %s",
				p.id, strings.Join(hooks, " → "), strings.Join(chains, " → "), strings.Join(verdicts, ", "), p.final()))
		}
	}
	pass = m.Count < 0 && n > 0 || m.Count == n
	seen = fmt.Sprintf("%d matching of %d traced packet(s)%s", n, len(paths), strings.Join(lines, ""))
	return want, pass, seen
}

func pathChains(p tracePath) []string {
	var out []string
	for _, e := range p.events {
		if len(out) == 0 || out[len(out)-1] != e.Chain {
			out = append(out, e.Chain)
		}
	}
	return out
}

func pathVerdicts(p tracePath) []string {
	var out []string
	for _, e := range p.events {
		if e.Type == timeline.TraceRule {
			out = append(out, e.Verdict)
		}
	}
	return out
}
