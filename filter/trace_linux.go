//go:build linux

package filter

import (
	"context"
	"encoding/binary"
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
	r, err := newResolver(c)
	if err != nil {
		nl.Close()
		c.DeleteTables(context.Background(), rs.Tables)
		return nil, err
	}
	if err := r.refresh(ctx); err != nil {
		r.close()
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
	headers := map[uint32]TraceEvent{} // trace id → the end-of-chain event that carried its headers
	defer close(t.done)
	defer close(t.events)
	defer r.close()
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
		synced := false
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
				// nft_do_chain, last_rule) before the policy event; it is no rule. In a
				// chain no rule of which the packet met, it is the chain's first event
				// and so the one with the headers and interfaces (nf_tables_trace.c
				// copies them once per chain): the next event of the packet gets them,
				// as `nft monitor trace` prints them for this event as a packet: line.
				if e.IIF != 0 || e.OIF != 0 || len(e.LLHeader)+len(e.NetworkHeader)+len(e.TransportHeader) > 0 {
					if len(headers) > 1024 {
						clear(headers)
					}
					headers[e.ID] = e
				}
				continue
			}
			if h, ok := headers[e.ID]; ok {
				delete(headers, e.ID)
				if h.Family == e.Family && h.Table == e.Table && h.Chain == e.Chain && e.IIF == 0 && e.OIF == 0 &&
					len(e.LLHeader)+len(e.NetworkHeader)+len(e.TransportHeader) == 0 {
					e.IIF, e.OIF, e.LLHeader, e.NetworkHeader, e.TransportHeader = h.IIF, h.OIF, h.LLHeader, h.NetworkHeader, h.TransportHeader
				}
			}
			e.Time = now
			if !synced {
				// Once per batch: the events in it were all generated before now.
				r.sync(ctx)
				synced = true
			}
			r.resolve(&e)
			select {
			case t.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

// resolver fills in what the kernel does not send: the hook, rule text and interface
// names. The kernel sends a rule's handle only (NFTA_TRACE_RULE_HANDLE), so the text
// comes from a snapshot of the node's ruleset, looked up by family, table, chain and
// handle, as `nft monitor trace` does from its cache. The snapshot is read again
// whenever the ruleset generation (NFT_MSG_GETGEN) has moved since it was taken: rules
// applied after tracing started get their text, and a table deleted and created again,
// whose handles start over, does not show the old rules' text. Entries of the snapshot
// before stay as a fallback for events of rules deleted since the packet passed.
type resolver struct {
	c        *Conn
	gen      *netlink.Conn // asks for the ruleset generation
	genID    uint32
	hooks    map[string]string // fam/table/chain → hook of a base chain
	rules    map[string]string // fam/table/chain/handle → text
	oldHooks map[string]string // the snapshot before, for misses
	oldRules map[string]string
	ifs      InterfaceMap
	lastHook map[uint32]string // trace id → hook of the last base chain seen
}

func newResolver(c *Conn) (*resolver, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: c.fd})
	if err != nil {
		return nil, fmt.Errorf("filter: trace in %s: dial netlink: %w", c.name, err)
	}
	return &resolver{c: c, gen: nl, lastHook: map[uint32]string{}}, nil
}

func (r *resolver) close() { r.gen.Close() }

// generation returns the node's ruleset generation id (NFTA_GEN_ID of NFT_MSG_NEWGEN,
// net/netfilter/nf_tables_api.c nf_tables_fill_gen_info); the kernel bumps it on every
// committed batch, before the batch's rules can see a packet.
func (r *resolver) generation() (uint32, error) {
	msgs, err := r.gen.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request},
		Data:   []byte{unix.NFPROTO_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("filter: ruleset generation in %s: %w", r.c.name, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, fmt.Errorf("filter: ruleset generation in %s: no NFTA_GEN_ID in the reply", r.c.name)
}

// sync reads the ruleset again if its generation moved since the snapshot.
func (r *resolver) sync(ctx context.Context) {
	if g, err := r.generation(); err != nil || g != r.genID || r.hooks == nil {
		r.refresh(ctx)
	}
}

// refresh takes a new snapshot. A batch committed while the dumps run would leave a
// mix of two generations, so it reads again until the generation held still.
func (r *resolver) refresh(ctx context.Context) error {
	var err error
	for try := 0; try < 3; try++ {
		var before, after uint32
		if before, err = r.generation(); err != nil {
			return err
		}
		if err = r.read(ctx); err != nil {
			return err
		}
		if after, err = r.generation(); err != nil {
			return err
		}
		r.genID = before
		if before == after {
			return nil
		}
	}
	return nil
}

func (r *resolver) read(ctx context.Context) error {
	rs, ifs, err := r.c.read(ctx)
	if err != nil {
		return err
	}
	hooks, rules := map[string]string{}, map[string]string{}
	for _, t := range rs.Tables {
		for _, ch := range t.Chains {
			key := chainKey(t.Family, t.Name, ch.Name)
			if ch.Base != nil {
				hooks[key] = hookName(t.Family, ch.Base.Hook)
			}
			for _, rule := range ch.Rules {
				rules[ruleKey(key, rule.Handle)] = RenderRule(t.Family, rule, ifs)
			}
		}
	}
	if r.hooks != nil {
		r.oldHooks, r.oldRules = r.hooks, r.rules
	}
	r.ifs, r.hooks, r.rules = ifs, hooks, rules
	return nil
}

func chainKey(fam Family, table, chain string) string {
	return fmt.Sprintf("%d/%s/%s", fam, table, chain)
}

func ruleKey(chainKey string, handle uint64) string {
	return fmt.Sprintf("%s/%d", chainKey, handle)
}

// lookup finds key in the snapshot, else in the one before.
func lookup(cur, old map[string]string, key string) (string, bool) {
	if v, ok := cur[key]; ok {
		return v, true
	}
	v, ok := old[key]
	return v, ok
}

func (r *resolver) resolve(e *TraceEvent) {
	key := chainKey(e.Family, e.Table, e.Chain)
	if h, ok := lookup(r.hooks, r.oldHooks, key); ok {
		e.Hook = h
		r.lastHook[e.ID] = h
	} else {
		// A regular chain: the packet came from the last base chain it was seen in.
		e.Hook = r.lastHook[e.ID]
	}
	if e.RuleHandle != 0 {
		e.Rule, _ = lookup(r.rules, r.oldRules, ruleKey(key, e.RuleHandle))
	}
	if e.IIF != 0 {
		e.IIFName, _ = r.ifs.Name(e.IIF)
	}
	if e.OIF != 0 {
		e.OIFName, _ = r.ifs.Name(e.OIF)
	}
}
