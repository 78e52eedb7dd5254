//go:build linux

package filter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TraceTable is the table pktlab adds to a node while tracing: an inet table with one
// chain on prerouting and one on output at priority -350 (before raw and conntrack),
// each holding `FILTER meta nftrace set 1`. It is removed when the Tracer closes.
const TraceTable = "pktlab_trace"

const tracePriority = -350

// Tracer receives nftables trace events from one node. Events() delivers them until
// the context ends or Close is called; Close also removes the trace table.
type Tracer struct {
	c      *Conn
	nl     *netlink.Conn
	events chan TraceEvent
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex // protects err
	err error
}

// Trace subscribes to the node's trace events (NFNLGRP_NFTRACE), then installs the
// trace table so that packets matching filterExpr (statements in nft syntax, e.g.
// "ip saddr 198.18.1.2 tcp dport 80"; empty for every packet) are traced. Events from
// pktlab's own trace chains are not delivered.
func (c *Conn) Trace(ctx context.Context, filterExpr string) (*Tracer, error) {
	if strings.ContainsAny(filterExpr, ";\n#") {
		return nil, fmt.Errorf("filter: trace filter %q: give matches only, on one line, without ';'", filterExpr)
	}
	src := fmt.Sprintf("table inet %s {\n\tchain pre {\n\t\ttype filter hook prerouting priority %d; policy accept;\n\t\t%s meta nftrace set 1\n\t}\n\tchain out {\n\t\ttype filter hook output priority %d; policy accept;\n\t\t%s meta nftrace set 1\n\t}\n}\n",
		TraceTable, tracePriority, filterExpr, tracePriority, filterExpr)
	rs, err := c.ParseFor("trace filter", []byte(src))
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("filter: trace filter %q: %s: %s", filterExpr, pe.Token, pe.Msg)
		}
		return nil, err
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: c.fd})
	if err != nil {
		return nil, fmt.Errorf("filter: trace in %s: dial netlink: %w", c.name, err)
	}
	if err := nl.SetReadBuffer(8 << 20); err != nil {
		nl.Close()
		return nil, fmt.Errorf("filter: trace in %s: %w", c.name, err)
	}
	if err := nl.JoinGroup(unix.NFNLGRP_NFTRACE); err != nil {
		nl.Close()
		return nil, fmt.Errorf("filter: trace in %s: join NFNLGRP_NFTRACE: %w", c.name, err)
	}
	if err := c.DeleteTables(ctx, rs.Tables); err != nil {
		nl.Close()
		return nil, err
	}
	if err := c.Apply(ctx, rs); err != nil {
		nl.Close()
		return nil, err
	}
	r := newResolver(c)
	if err := r.refresh(ctx); err != nil {
		nl.Close()
		c.DeleteTables(context.Background(), rs.Tables)
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &Tracer{c: c, nl: nl, events: make(chan TraceEvent, 1024), cancel: cancel, done: make(chan struct{})}
	go t.run(ctx, r)
	go func() {
		<-ctx.Done()
		// Unblock Receive; run then exits and closes the channel.
		nl.SetReadDeadline(time.Now())
	}()
	return t, nil
}

// Events returns the channel of trace events; it is closed when tracing stops.
func (t *Tracer) Events() <-chan TraceEvent { return t.events }

// Err returns the error that stopped the receiver, if any.
func (t *Tracer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Close stops tracing, waits for the receiver and removes the trace table. It is safe
// to call twice.
func (t *Tracer) Close() error {
	t.cancel()
	<-t.done
	t.nl.Close()
	return t.c.DeleteTables(context.Background(), []*Table{{Family: FamilyINet, Name: TraceTable}})
}

func (t *Tracer) run(ctx context.Context, r *resolver) {
	defer close(t.done)
	defer close(t.events)
	for {
		msgs, err := t.nl.Receive()
		if err != nil {
			if ctx.Err() == nil {
				t.mu.Lock()
				t.err = fmt.Errorf("filter: receive trace events in %s: %w", t.c.name, err)
				t.mu.Unlock()
			}
			return
		}
		now := time.Now()
		for _, m := range msgs {
			if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_TRACE) || len(m.Data) < 4 {
				continue
			}
			e, err := DecodeTrace(m.Data[0], m.Data[4:])
			if err != nil || e.Table == TraceTable {
				continue
			}
			if e.Type == TraceRule && e.RuleHandle == 0 && e.Verdict == "continue" {
				// The kernel traces the end-of-chain sentinel rule (nf_tables_core.c
				// nft_do_chain, last_rule) before the policy event; it is no rule.
				continue
			}
			e.Time = now
			r.resolve(ctx, &e)
			select {
			case t.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

// resolver fills in what the kernel does not send: the hook, rule text and interface
// names, from a snapshot of the node's ruleset that it refreshes on a miss.
type resolver struct {
	c         *Conn
	hooks     map[string]string // fam/table/chain → hook of a base chain
	rules     map[string]string // fam/table/chain/handle → text
	ifs       InterfaceMap
	lastHook  map[uint32]string // trace id → hook of the last base chain seen
	refreshed time.Time
}

func newResolver(c *Conn) *resolver {
	return &resolver{c: c, lastHook: map[uint32]string{}}
}

func (r *resolver) refresh(ctx context.Context) error {
	rs, err := r.c.Read(ctx)
	if err != nil {
		return err
	}
	ifs, err := r.c.Interfaces()
	if err != nil {
		return err
	}
	r.ifs, r.hooks, r.rules = ifs, map[string]string{}, map[string]string{}
	for _, t := range rs.Tables {
		for _, ch := range t.Chains {
			key := fmt.Sprintf("%d/%s/%s", t.Family, t.Name, ch.Name)
			if ch.Base != nil {
				r.hooks[key] = hookName(t.Family, ch.Base.Hook)
			}
			for _, rule := range ch.Rules {
				r.rules[fmt.Sprintf("%s/%d", key, rule.Handle)] = RenderRule(t.Family, rule, ifs)
			}
		}
	}
	r.refreshed = time.Now()
	return nil
}

func (r *resolver) resolve(ctx context.Context, e *TraceEvent) {
	key := fmt.Sprintf("%d/%s/%s", e.Family, e.Table, e.Chain)
	rkey := fmt.Sprintf("%s/%d", key, e.RuleHandle)
	_, knownChain := r.hooks[key]
	_, knownRule := r.rules[rkey]
	if (e.RuleHandle != 0 && !knownRule || !knownChain && r.lastHook[e.ID] == "") && time.Since(r.refreshed) > 100*time.Millisecond {
		r.refresh(ctx)
	}
	if h, ok := r.hooks[key]; ok {
		e.Hook = h
		r.lastHook[e.ID] = h
	} else {
		e.Hook = r.lastHook[e.ID]
	}
	if e.RuleHandle != 0 {
		e.Rule = r.rules[rkey]
	}
	if e.IIF != 0 {
		e.IIFName, _ = r.ifs.Name(e.IIF)
	}
	if e.OIF != 0 {
		e.OIFName, _ = r.ifs.Name(e.OIF)
	}
}
