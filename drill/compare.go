package drill

import (
	"regexp"
)

// Divergence is the first event where two runs of one script part ways: what each
// stack did there.
type Divergence struct {
	Pos          Pos
	Kernel, User string
}

// winRE drops the window field: the two stacks size their buffers differently, and a
// script checks the window only where it gives one.
var winRE = regexp.MustCompile(` win \d+`)

// stepText is what a step shows of the stack: the packet, the call's result, a note.
func stepText(s Step) string {
	return winRE.ReplaceAllString(s.Packet, "") + s.Result + s.Note
}

// Compare returns the first event where the runs a (kernel) and b (userspace) of one
// script differ, in the packets sent, the calls' results or the verdict; nil when
// they agree on every event.
func Compare(a, b *Result) *Divergence {
	a, b = withoutShell(a), withoutShell(b)
	n := min(len(a.Steps), len(b.Steps))
	for i := 0; i < n; i++ {
		sa, sb := a.Steps[i], b.Steps[i]
		if sa.Event != sb.Event || stepText(sa) != stepText(sb) || failed(a, i) || failed(b, i) {
			return &Divergence{Pos: sa.Event.Pos, Kernel: describeOutcome(a, i), User: describeOutcome(b, i)}
		}
	}
	switch {
	case a.Passed() && b.Passed() && len(a.Steps) == len(b.Steps):
		return nil
	case len(a.Steps) > n:
		return &Divergence{Pos: a.Steps[n].Event.Pos, Kernel: describeStep(a.Steps[n]), User: verdict(b)}
	case len(b.Steps) > n:
		return &Divergence{Pos: b.Steps[n].Event.Pos, User: describeStep(b.Steps[n]), Kernel: verdict(a)}
	}
	pos := Pos{File: a.Script.File}
	if a.Mismatch != nil {
		pos = a.Mismatch.Pos
	} else if b.Mismatch != nil {
		pos = b.Mismatch.Pos
	}
	return &Divergence{Pos: pos, Kernel: verdict(a), User: verdict(b)}
}

// withoutShell drops the shell steps: the userspace stack skips the lines it has no
// setting for, and what a shell line does shows in the packets and calls after it.
func withoutShell(r *Result) *Result {
	c := *r
	c.Steps = nil
	for _, s := range r.Steps {
		if s.Event.Kind != EventShell {
			c.Steps = append(c.Steps, s)
		}
	}
	return &c
}

// failed reports whether step i is where run r stopped with its mismatch.
func failed(r *Result, i int) bool {
	return r.Mismatch != nil && i == len(r.Steps)-1 && r.Steps[i].Event.Pos.Line == r.Mismatch.Pos.Line
}

// describeOutcome is step i of r, with the mismatch when r stopped there.
func describeOutcome(r *Result, i int) string {
	if failed(r, i) {
		return describeStep(r.Steps[i]) + ": " + r.Mismatch.Msg
	}
	return describeStep(r.Steps[i])
}

func describeStep(s Step) string {
	return secs(s.At) + " " + s.Packet + s.Result + s.Note
}

func verdict(r *Result) string {
	if r.Mismatch != nil {
		return r.Mismatch.Msg
	}
	return "passed"
}
