package experiment

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

// checkFrames counts the frames matching m in its time window.
func (r *run) checkFrames(m *FrameMatch) (want string, pass bool, seen string) {
	want = describeFrame(m)
	from, to := r.window(m.After, m.Before)
	frames := r.tl.Frames()
	var acks map[*timeline.Frame]ackStat
	if m.needsAcks() {
		acks = ackStats(frames, r.endpointIndex(*m.On))
	}
	var match, near []timeline.Event
	for _, e := range frames {
		f := e.Frame()
		if !r.onLink(m.On, f) || !inWindow(e.Time, from, to, m.Within) {
			continue
		}
		v := view{pkt: &f.Packet, frame: f, data: f.Data, ack: acks[f]}
		if !m.conds.holds(&v, true) {
			continue
		}
		if m.conds.holds(&v, false) {
			match = append(match, e)
		} else {
			near = append(near, e)
		}
	}
	n := len(match)
	pass = m.holds(n)
	seen = fmt.Sprintf("%d matching frame(s)", n)
	line := func(evs []timeline.Event) func(int) string {
		return func(i int) string {
			s := r.tl.Line(evs[i])
			if acks != nil {
				s += " {" + acks[evs[i].Frame()].String() + "}"
			}
			return s
		}
	}
	seen += listed("matching", len(match), line(match))
	if !pass || n == 0 {
		seen += listed("frames of the same kind that differ", len(near), line(near))
	}
	if pass && m.distinctISN() {
		var s string
		pass, s = distinctISNs(match)
		seen += s
	}
	if pass && len(m.Gaps) > 0 {
		ok, gs := gapsMatch(match, m.Gaps, m.Tol)
		pass = ok
		seen += "; gaps between them: " + gs
	}
	if pass && m.MinGap > 0 {
		ok, gs := minGapMatch(match, m.MinGap)
		pass = ok
		seen += "; gaps between them: " + gs
	}
	return want, pass, seen
}

// minGapMatch checks that each frame comes at least min after the one before. It is
// what a sender that waits between sends guarantees on a loaded machine: a frame is
// stamped by the capture inside the system call that sends it, and the next call
// starts only after the wait, so the gap is never shorter; how much longer depends
// on the scheduler.
func minGapMatch(evs []timeline.Event, min time.Duration) (bool, string) {
	ok := true
	var got []string
	for i := 1; i < len(evs); i++ {
		g := evs[i].Time.Sub(evs[i-1].Time)
		got = append(got, g.Round(time.Millisecond).String())
		ok = ok && g >= min
	}
	return ok, fmt.Sprintf("[%s], want each at least %s", strings.Join(got, " "), min)
}

// window is the time span of step ids after and before ("" for no bound), from the
// times their Step events were recorded; a step that has not begun yet is no bound
// (the zero time).
func (r *run) window(after, before string) (from, to time.Time) {
	from = r.tl.Start
	if after != "" {
		from = time.Time{}
	}
	for _, e := range r.tl.Select(timeline.KindStep) {
		id := e.Data.(*timeline.Step).ID
		if id != "" && id == after {
			from = e.Time
		}
		if id != "" && id == before {
			to = e.Time
		}
	}
	return from, to
}

// inWindow reports whether t is from from on, before to (unless zero) and within
// within of from (unless zero).
func inWindow(t, from, to time.Time, within time.Duration) bool {
	return !t.Before(from) && (to.IsZero() || t.Before(to)) && (within <= 0 || t.Sub(from) <= within)
}

// onLink reports whether a frame is one the expectation reads: seen on the interface
// on, or, without on, the one copy shown of a frame that crossed a link.
func (r *run) onLink(on *testlab.Endpoint, f *timeline.Frame) bool {
	if on == nil {
		return !f.Dup
	}
	ep := r.tl.Endpoints[f.Index]
	return ep.Node == on.Node && ep.Iface == on.Interface
}

// listed renders up to six of n items under label, one per line, and counts the rest.
func listed(label string, n int, line func(i int) string) string {
	if n == 0 {
		return ""
	}
	s := "; " + label + ":"
	for i := range min(n, 6) {
		s += "\n      " + line(i)
	}
	if n > 6 {
		s += fmt.Sprintf("\n      … and %d more", n-6)
	}
	return s
}

// distinctISNs checks that the frames' absolute sequence numbers are non-zero and
// all differ, and lists them.
func distinctISNs(evs []timeline.Event) (bool, string) {
	ok := true
	seqs := map[uint32]bool{}
	var list []string
	for _, e := range evs {
		sq := e.Frame().Packet.Seq
		if sq == 0 || seqs[sq] {
			ok = false
		}
		seqs[sq] = true
		list = append(list, fmt.Sprint(sq))
	}
	return ok, "; absolute sequence numbers: " + strings.Join(list, ", ")
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
	where := "on any link"
	if m.On != nil {
		where = "on " + m.On.String()
	}
	where += windowPhrase(m.After, m.Before)
	if m.Within > 0 {
		where += fmt.Sprintf(" within %s", m.Within)
	}
	if m.MinGap > 0 {
		where += fmt.Sprintf(", each at least %s after the one before", m.MinGap)
	}
	what := "frame"
	if parts := m.conds.describe(); len(parts) > 0 {
		what += " " + strings.Join(parts, ", ")
	}
	return m.phrase(what, where)
}

// windowPhrase says which steps bound an expectation's frames.
func windowPhrase(after, before string) string {
	s := ""
	if after != "" {
		s += " after step " + after + " began"
	}
	if before != "" {
		s += " before step " + before + " began"
	}
	return s
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
