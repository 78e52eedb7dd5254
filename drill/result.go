package drill

import (
	"fmt"
	"time"
)

// Result is what a run of a script did: one Step per event handled, and the first
// mismatch (nil when the script passed).
type Result struct {
	Script   *Script
	Stack    string // "kernel" or "userspace"
	Steps    []Step
	Mismatch *Mismatch
	Warnings []string
	Wall     time.Duration // wall-clock time of the run, set-up included
	End      time.Duration // script time of the last event handled
}

// Passed reports whether every event matched.
func (r *Result) Passed() bool { return r.Mismatch == nil }

// Step is one event as it happened.
type Step struct {
	Event    *Event
	Expected time.Duration // script time the event was due at
	At       time.Duration // time it happened (a packet sent or seen, a call returned)
	Packet   string        // the packet as sent or seen, in script numbers (packet lines)
	Result   string        // a call's result: "= 4", "= -1 EAGAIN"
	Note     string        // e.g. why a shell line was skipped
}

// Mismatch is the first thing that did not go as the script says, in packetdrill's
// words.
type Mismatch struct {
	Pos    Pos    `json:"pos"`
	Kind   string `json:"kind"`             // "packet", "syscall", "timing", "shell", "assert"
	Msg    string `json:"msg"`              // "error handling packet: bad outbound TCP flags: expected: S. actual: S"
	Script string `json:"script,omitempty"` // the script's packet (packet mismatches)
	Actual string `json:"actual,omitempty"` // the packet that came instead
}

func (m *Mismatch) Error() string { return fmt.Sprintf("%s:%d: %s", m.Pos.File, m.Pos.Line, m.Msg) }

// secs renders a script time as packetdrill does: seconds with 6 decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.6f", d.Seconds()) }
