package experiment

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pktlab/pktlab/timeline"
)

// checkKernel evaluates the expectations about the kernel's TCP events, once every
// event the kernel reported so far is on the timeline.
func (r *run) checkKernel(ctx context.Context, c Check) (want string, pass bool, seen string) {
	r.kern.syncFor(ctx, 2*time.Second)
	switch m := c.(type) {
	case *KernelStateMatch:
		want, pass, seen = r.checkKernelState(m)
	case *DropMatch:
		want, pass, seen = r.checkDrop(m)
	case *RetransmitMatch:
		want, pass, seen = r.checkRetransmit(m)
	case *ResetMatch:
		want, pass, seen = r.checkReset(m)
	}
	if r.kern == nil {
		seen += " (" + r.polled + ")"
	}
	if lost, missed := r.kern.losses(); !pass && lost+missed > 0 {
		seen += fmt.Sprintf(" (kernel tracing lost %d events of this run's nodes and missed %d machine-wide: see the notes)", lost, missed)
	}
	return want, pass, seen
}

// apMatch: an unset want matches anything, port 0 any port.
func apMatch(want, got netip.AddrPort) bool {
	if !want.IsValid() {
		return true
	}
	return want.Addr().Unmap() == got.Addr().Unmap() && (want.Port() == 0 || want.Port() == got.Port())
}

// tupleWords says which sockets local and remote select.
func tupleWords(local, remote netip.AddrPort) string {
	var s string
	if local.IsValid() {
		s += " local " + local.String()
	}
	if remote.IsValid() {
		s += " remote " + remote.String()
	}
	return s
}

// socketPath is the state path of one socket (one 4-tuple; a new path begins after
// CLOSE, when the tuple is used again).
type socketPath struct {
	local, remote netip.AddrPort
	first         time.Time // its first change
	states        []string
}

func (p *socketPath) String() string {
	return fmt.Sprintf("%s > %s: %s", p.local, p.remote, strings.Join(p.states, " → "))
}

// kernelPaths groups a node's kernel state changes by socket, in time order.
func (r *run) kernelPaths(node string) []*socketPath {
	var out []*socketPath
	open := map[[2]netip.AddrPort]*socketPath{}
	for _, e := range r.tl.Select(timeline.KindKernelState) {
		st := e.Data.(*timeline.KernelState)
		if e.Node != node || st.To == timeline.StateGone {
			continue // "gone" is the socket freed (tcp_destroy_sock), not a state
		}
		key := [2]netip.AddrPort{st.Local, st.Remote}
		p := open[key]
		if p == nil || len(p.states) > 1 && p.states[len(p.states)-1] == "CLOSE" {
			p = &socketPath{local: st.Local, remote: st.Remote, first: e.Time, states: []string{st.From}}
			open[key] = p
			out = append(out, p)
		}
		p.states = append(p.states, st.To)
	}
	return out
}

// checkKernelState counts the selected sockets that went exactly the path.
func (r *run) checkKernelState(m *KernelStateMatch) (want string, pass bool, seen string) {
	from, to, where := r.selWindow(&m.KernelSelect)
	alts := m.Paths
	if m.Path != nil {
		alts = [][]string{m.Path}
	}
	var texts []string
	for _, a := range alts {
		texts = append(texts, strings.Join(a, " → "))
	}
	want = m.phrase("kernel TCP socket"+tupleWords(m.Local, m.Remote)+" that went "+strings.Join(texts, " or "), where)
	var sel, others []string
	n := 0
	for _, p := range r.kernelPaths(m.Node) {
		if !apMatch(m.Local, p.local) || !apMatch(m.Remote, p.remote) || !inWindow(p.first, from, to, 0) {
			others = append(others, p.String())
			continue
		}
		sel = append(sel, p.String())
		if slices.ContainsFunc(alts, func(a []string) bool { return slices.Equal(a, p.states) }) {
			n++
		}
	}
	pass = m.holds(n)
	seen = fmt.Sprintf("%d matching of %d selected socket(s)", n, len(sel))
	seen += listWords(": ", sel)
	if !pass {
		seen += listWords("; the node's other sockets: ", others)
	}
	return want, pass, seen
}

// selWindow is the part of the run a selection looks at, and its words.
func (r *run) selWindow(s *KernelSelect) (from, to time.Time, where string) {
	from, to = r.window(s.After, s.Before)
	where = "on " + s.Node
	if s.After != "" {
		where += " after step " + s.After + " began"
	}
	if s.Before != "" {
		where += " before step " + s.Before + " began"
	}
	return from, to, where
}

// listWords is at most six items after a label, "" for none.
func listWords(label string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	if len(items) > 6 {
		items = append(items[:6:6], fmt.Sprintf("… and %d more", len(items)-6))
	}
	return label + strings.Join(items, "; ")
}

// kernelQuery is what the counting expectations share: whose events of which kind,
// when, which of them are selected, and how many must be.
type kernelQuery struct {
	*KernelSelect
	kind timeline.Kind
	sel  func(timeline.Data) bool // beside the socket's addresses
	what string                   // the noun phrase of Quantity.phrase
}

// socketOf is the addresses of the socket a kernel event is about.
func socketOf(d timeline.Data) (local, remote netip.AddrPort) {
	switch x := d.(type) {
	case *timeline.Drop:
		return x.Local, x.Remote
	case *timeline.Retransmit:
		return x.Local, x.Remote
	case *timeline.Reset:
		return x.Local, x.Remote
	}
	return netip.AddrPort{}, netip.AddrPort{}
}

// count counts the selected events; seen lists them, and on a failure the node's
// other events of the kind.
func (r *run) count(k kernelQuery) (want string, pass bool, seen string, match []timeline.Event) {
	from, to, where := r.selWindow(k.KernelSelect)
	var near []timeline.Event
	for _, e := range r.tl.Select(k.kind) {
		if e.Node != k.Node || !inWindow(e.Time, from, to, 0) {
			continue
		}
		local, remote := socketOf(e.Data)
		if apMatch(k.Local, local) && apMatch(k.Remote, remote) && k.sel(e.Data) {
			match = append(match, e)
		} else {
			near = append(near, e)
		}
	}
	pass = k.holds(len(match))
	seen = fmt.Sprintf("%d matching", len(match))
	seen += listWords(": ", r.lines(match))
	if !pass {
		seen += listWords("; others: ", r.lines(near))
	}
	return k.phrase(k.what, where), pass, seen, match
}

func (r *run) lines(evs []timeline.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, "\n      "+r.tl.Line(e))
	}
	return out
}

// words joins the non-empty descriptions of an expectation's fields.
func words(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

// if1 is f with a when s is set, else "".
func if1(s, f string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(f, s)
}

var protoNumbers = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}

// packetSelects applies a drop's packet selectors to the dropped packet's headers.
func (m *DropMatch) packetSelects(p *timeline.KernelPacket) bool {
	if m.Proto == "" && !m.Src.IsValid() && !m.Dst.IsValid() && m.SPort == nil && m.DPort == nil && m.Flags == "" {
		return true
	}
	if p == nil {
		return false
	}
	return (m.Proto == "" || protoNumbers[m.Proto] == p.Proto) &&
		(!m.Src.IsValid() || m.Src.Unmap() == p.Src.Unmap()) && (!m.Dst.IsValid() || m.Dst.Unmap() == p.Dst.Unmap()) &&
		(m.SPort == nil || *m.SPort == p.SrcPort) && (m.DPort == nil || *m.DPort == p.DstPort) &&
		(m.Flags == "" || p.Proto == 6 && sameFlags(m.Flags, p.Flags.String()))
}

func (m *DropMatch) words() string {
	port := func(f string, p *uint16) string {
		if p == nil {
			return ""
		}
		return fmt.Sprintf(f, *p)
	}
	src, dst := "", ""
	if m.Src.IsValid() {
		src = "from " + m.Src.String()
	}
	if m.Dst.IsValid() {
		dst = "to " + m.Dst.String()
	}
	return words(if1(m.Reason, "reason %s"), m.Proto, src, dst, port("sport %d", m.SPort), port("dport %d", m.DPort),
		if1(m.Flags, "flags [%s]"), if1(m.SockState, "for a socket in %s"))
}

func (r *run) checkDrop(m *DropMatch) (want string, pass bool, seen string) {
	want, pass, seen, _ = r.count(kernelQuery{KernelSelect: &m.KernelSelect, kind: timeline.KindDrop,
		what: strings.TrimSpace("packet dropped by the kernel " + m.words()),
		sel: func(d timeline.Data) bool {
			x := d.(*timeline.Drop)
			return (m.Reason == "" || x.Reason == m.Reason) && (m.SockState == "" || x.SockState == m.SockState) && m.packetSelects(x.Packet)
		}})
	return want, pass, seen
}

// retransmitFlags are a retransmission's flags; a SYN-ACK for a request socket
// (tcp:tcp_retransmit_synack) has none recorded and is S.
func retransmitFlags(x *timeline.Retransmit) string {
	if x.SynAck {
		return "S."
	}
	return x.Flags.String()
}

func (r *run) checkRetransmit(m *RetransmitMatch) (want string, pass bool, seen string) {
	what := "retransmission " + words(strings.TrimSpace(tupleWords(m.Local, m.Remote)), if1(m.Flags, "flags [%s]"),
		if1(m.State, "in %s"), if1(m.CA, "congestion state %s"))
	want, pass, seen, match := r.count(kernelQuery{KernelSelect: &m.KernelSelect, kind: timeline.KindRetransmit,
		what: strings.TrimSpace(what),
		sel: func(d timeline.Data) bool {
			x := d.(*timeline.Retransmit)
			return (m.Flags == "" || sameFlags(m.Flags, retransmitFlags(x))) && (m.State == "" || x.State == m.State) && (m.CA == "" || x.CA == m.CA)
		}})
	if pass && len(m.Gaps) > 0 {
		ok, gs := gapsMatch(match, m.Gaps, m.Tol)
		pass = ok
		seen += "; gaps between them: " + gs
	}
	return want, pass, seen
}

func (r *run) checkReset(m *ResetMatch) (want string, pass bool, seen string) {
	dir := "RST received"
	if m.Sent {
		dir = "RST sent"
	}
	state := if1(m.State, "in %s")
	if m.State == "NONE" {
		state = "without a socket"
	}
	want, pass, seen, _ = r.count(kernelQuery{KernelSelect: &m.KernelSelect, kind: timeline.KindReset,
		what: strings.TrimSpace(dir + " " + words(strings.TrimSpace(tupleWords(m.Local, m.Remote)), state, if1(m.Reason, "reason %s"))),
		sel: func(d timeline.Data) bool {
			x := d.(*timeline.Reset)
			st := x.State
			if st == "" {
				st = "NONE"
			}
			return x.Sent == m.Sent && (m.State == "" || st == m.State) && (m.Reason == "" || x.Reason == m.Reason)
		}})
	return want, pass, seen
}
