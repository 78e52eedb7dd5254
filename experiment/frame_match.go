package experiment

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

// checkFrames counts the frames matching m in its time window.
func (r *run) checkFrames(m *FrameMatch) (want string, pass bool, seen string) {
	want = describeFrame(m)
	r.mu.Lock()
	from, to := r.tl.Start, time.Time{}
	if m.After != "" {
		from = r.started[m.After]
	}
	if m.Before != "" {
		to = r.started[m.Before]
	}
	r.mu.Unlock()
	var match, near []timeline.Event
	frames := r.tl.Frames()
	var acks map[*timeline.Frame]ackStat
	if m.AckedSegs >= 0 || m.AckDelay != nil {
		acks = ackStats(frames, r.endpointIndex(*m.On))
	}
	for _, e := range frames {
		f := e.Frame
		if m.On != nil {
			ep := r.tl.Endpoints[f.Index]
			if ep.Node != m.On.Node || ep.Iface != m.On.Interface {
				continue
			}
		} else if f.Dup {
			continue
		}
		if e.Time.Before(from) || !to.IsZero() && !e.Time.Before(to) || m.Within > 0 && e.Time.Sub(from) > m.Within {
			continue
		}
		if !selects(m, f) {
			continue
		}
		if fieldsMatch(m, f) && (acks == nil || ackMatch(m, acks[f])) {
			match = append(match, e)
		} else {
			near = append(near, e)
		}
	}
	n := len(match)
	pass = m.holds(n)
	seen = fmt.Sprintf("%d matching frame(s)", n)
	show := func(label string, evs []timeline.Event) {
		if len(evs) == 0 {
			return
		}
		seen += "; " + label + ":"
		for i, e := range evs {
			if i == 6 {
				seen += fmt.Sprintf("\n      … and %d more", len(evs)-6)
				break
			}
			seen += "\n      " + r.tl.Line(e)
			if acks != nil {
				seen += " {" + acks[e.Frame].String() + "}"
			}
		}
	}
	show("matching", match)
	if !pass || n == 0 {
		show("frames of the same kind that differ", near)
	}
	if pass && m.DistinctISN {
		seqs := map[uint32]bool{}
		var list []string
		for _, e := range match {
			sq := e.Frame.Packet.Seq
			if sq == 0 || seqs[sq] {
				pass = false
			}
			seqs[sq] = true
			list = append(list, fmt.Sprint(sq))
		}
		seen += "; absolute sequence numbers: " + strings.Join(list, ", ")
	}
	if pass && len(m.Gaps) > 0 {
		ok, gs := gapsMatch(match, m.Gaps, m.Tol)
		pass = ok
		seen += "; gaps between them: " + gs
	}
	return want, pass, seen
}

// selects applies the fields that say which frames the expectation is about (where,
// protocol, addresses, ports); the rest are what is checked about them.
func selects(m *FrameMatch, f *timeline.Frame) bool {
	p := &f.Packet
	if m.Filter != nil && !m.Filter.Match(f.Data) {
		return false
	}
	if m.Proto != "" && m.Proto != p.Proto && !(m.Proto == "icmp6" && p.Proto == "icmp6") {
		return false
	}
	if m.Src.IsValid() && m.Src != p.Src || m.Dst.IsValid() && m.Dst != p.Dst {
		return false
	}
	if m.SPort >= 0 && m.SPort != p.SPort || m.DPort >= 0 && m.DPort != p.DPort {
		return false
	}
	return true
}

func fieldsMatch(m *FrameMatch, f *timeline.Frame) bool {
	p := &f.Packet
	if m.Flags != "" && !sameFlags(m.Flags, p.Flags.String()) {
		return false
	}
	if m.HasFlags != "" {
		for _, c := range m.HasFlags {
			if !strings.ContainsRune(p.Flags.String(), c) {
				return false
			}
		}
	}
	if p.Proto == "tcp" {
		if m.Seq >= 0 && uint32(m.Seq) != f.RelSeq || m.Ack >= 0 && uint32(m.Ack) != f.RelAck {
			return false
		}
	} else if m.Seq >= 0 || m.Ack >= 0 || m.Flags != "" || m.HasFlags != "" {
		return false
	}
	if m.Options != nil && strings.Join(m.Options, ",") != strings.Join(p.Options, ",") {
		return false
	}
	for _, o := range m.HasOpt {
		if !slices.Contains(p.Options, o) {
			return false
		}
	}
	for _, o := range m.NoOpt {
		if slices.Contains(p.Options, o) {
			return false
		}
	}
	eq := func(want, got int) bool { return want < 0 || want == got }
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	if !eq(m.FragOff, p.FragOff) || !eq(m.MF, b2i(p.MF)) || !eq(m.DF, b2i(p.DF)) || !eq(m.Urg, p.Urgent) {
		return false
	}
	if !eq(m.MSS, p.MSS) || !eq(m.WScale, p.WScale) || !eq(m.TTL, p.TTL) || !eq(m.Len, p.PayloadLen) ||
		!eq(m.ICMPType, p.ICMPType) || !eq(m.ICMPCode, p.ICMPCode) || !eq(m.MTU, p.MTU) || !eq(m.Window, p.Window) {
		return false
	}
	if m.ECN != "" && m.ECN != []string{"not-ect", "ect1", "ect0", "ce"}[p.ECN&3] {
		return false
	}
	return true
}

// sameFlags compares flag sets written in tcpdump letters, in any order.
func sameFlags(a, b string) bool {
	sa, sb := []byte(a), []byte(b)
	sort.Slice(sa, func(i, j int) bool { return sa[i] < sa[j] })
	sort.Slice(sb, func(i, j int) bool { return sb[i] < sb[j] })
	return string(sa) == string(sb)
}

// gapsMatch checks the time between successive matching frames against want, each
// within tol (a fraction).
func gapsMatch(evs []timeline.Event, want []time.Duration, tol float64) (bool, string) {
	var got []string
	ok := len(evs) >= len(want)+1
	for i := 1; i < len(evs); i++ {
		g := evs[i].Time.Sub(evs[i-1].Time)
		got = append(got, g.Round(time.Millisecond).String())
		if i-1 < len(want) {
			w := want[i-1]
			if math.Abs(float64(g-w)) > tol*float64(w) {
				ok = false
			}
		}
	}
	var ws []string
	for _, w := range want {
		ws = append(ws, w.String())
	}
	return ok, fmt.Sprintf("[%s], want [%s] ± %.0f%%", strings.Join(got, " "), strings.Join(ws, " "), tol*100)
}

// describeFrame says in words what frames the expectation asks for.
func describeFrame(m *FrameMatch) string {
	var parts []string
	add := func(f string, a ...any) { parts = append(parts, fmt.Sprintf(f, a...)) }
	if m.Filter != nil {
		add("matching %q", m.Filter.String())
	}
	if m.Proto != "" {
		add("%s", m.Proto)
	}
	if m.Src.IsValid() {
		add("from %s", m.Src)
	}
	if m.SPort >= 0 {
		add("sport %d", m.SPort)
	}
	if m.Dst.IsValid() {
		add("to %s", m.Dst)
	}
	if m.DPort >= 0 {
		add("dport %d", m.DPort)
	}
	if m.Flags != "" {
		add("flags [%s]", m.Flags)
	}
	if m.HasFlags != "" {
		add("with flags %s set", m.HasFlags)
	}
	if m.Seq >= 0 {
		add("seq %d", m.Seq)
	}
	if m.Ack >= 0 {
		add("ack %d", m.Ack)
	}
	if m.Options != nil {
		add("options exactly [%s]", strings.Join(m.Options, ","))
	}
	if len(m.HasOpt) > 0 {
		add("options including %s", strings.Join(m.HasOpt, ","))
	}
	if len(m.NoOpt) > 0 {
		add("options without %s", strings.Join(m.NoOpt, ","))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"mss", m.MSS}, {"wscale", m.WScale}, {"ttl", m.TTL}, {"payload length", m.Len}, {"fragment offset", m.FragOff}, {"MF", m.MF}, {"DF", m.DF}, {"urgent pointer", m.Urg}, {"icmp type", m.ICMPType}, {"icmp code", m.ICMPCode}, {"mtu", m.MTU}, {"window", m.Window}} {
		if f.v >= 0 {
			add("%s %d", f.name, f.v)
		}
	}
	if m.ECN != "" {
		add("ecn %s", m.ECN)
	}
	if m.DistinctISN {
		add("each with its own non-zero initial sequence number")
	}
	if m.AckedSegs >= 0 {
		add("newly acknowledging %d data segment(s)", m.AckedSegs)
	}
	if m.AckDelay != nil {
		add("sent %s after the last data segment it acknowledges", m.AckDelay)
	}
	where := "on any link"
	if m.On != nil {
		where = "on " + m.On.String()
	}
	if m.After != "" {
		where += " after step " + m.After + " began"
	}
	if m.Before != "" {
		where += " before step " + m.Before + " began"
	}
	if m.Within > 0 {
		where += fmt.Sprintf(" within %s", m.Within)
	}
	what := "a frame"
	if len(parts) > 0 {
		what += " " + strings.Join(parts, ", ")
	}
	return m.phrase(strings.TrimPrefix(what, "a "), where)
}

// endpointIndex is the timeline's index of a captured interface, -1 if not captured.
func (r *run) endpointIndex(ep testlab.Endpoint) int {
	for i, e := range r.tl.Endpoints {
		if e.Node == ep.Node && e.Iface == ep.Interface {
			return i
		}
	}
	return -1
}
