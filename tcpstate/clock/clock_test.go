package clock

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManualRunsTimersInDeadlineOrder(t *testing.T) {
	m := NewManual(t0)
	var fired []string
	var at []time.Duration
	rec := func(name string) func() {
		return func() { fired = append(fired, name); at = append(at, m.Now().Sub(t0)) }
	}
	m.AfterFunc(3*time.Second, rec("c"))
	m.AfterFunc(time.Second, func() {
		rec("a")()
		m.AfterFunc(500*time.Millisecond, rec("b")) // armed by a callback, due within the same Advance
	})
	stopped := m.AfterFunc(2*time.Second, rec("never"))
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true, then false")
	}
	m.Advance(2 * time.Second)
	if want := []string{"a", "b"}; !slices.Equal(fired, want) {
		t.Fatalf("after 2s fired %v, want %v", fired, want)
	}
	if want := []time.Duration{time.Second, 1500 * time.Millisecond}; !slices.Equal(at, want) {
		t.Errorf("callbacks saw the clock at %v, want %v", at, want)
	}
	if got := m.Now().Sub(t0); got != 2*time.Second {
		t.Errorf("Now = t0+%v, want t0+2s", got)
	}
	if d, ok := m.NextDeadline(); !ok || d.Sub(t0) != 3*time.Second || m.Pending() != 1 {
		t.Errorf("next deadline t0+%v (%v), %d pending; want t0+3s, 1", d.Sub(t0), ok, m.Pending())
	}
	m.Advance(time.Second)
	if !slices.Equal(fired, []string{"a", "b", "c"}) {
		t.Errorf("fired %v", fired)
	}
}

func TestManualZeroDelayRunsAtOnce(t *testing.T) {
	m := NewManual(t0)
	ran := 0
	m.AfterFunc(0, func() { ran++ })
	if ran != 1 {
		t.Error("a timer for 0 did not run at once")
	}
	tm := m.AfterFunc(time.Minute, func() { ran++ })
	if !tm.Reset(time.Hour) {
		t.Error("Reset of a pending timer reported false")
	}
	tm.ResetAt(t0) // a time already past: at once
	if ran != 2 || m.Pending() != 0 {
		t.Errorf("ResetAt a past time: ran %d, %d pending; want 2, 0", ran, m.Pending())
	}
}

// TestPausableStandsStill: a paused clock shows the instant it was paused at, its
// timers do not fire however long the pause, and after Resume they fire when the
// clock has run for their whole delay.
func TestPausableStandsStill(t *testing.T) {
	base := NewManual(t0)
	p := NewPausable(base)
	fired := 0
	p.AfterFunc(time.Second, func() { fired++ })
	base.Advance(400 * time.Millisecond)
	p.Pause()
	base.Advance(time.Hour) // the user thinks at the prompt
	if fired != 0 {
		t.Fatal("a timer fired while the clock was paused")
	}
	if got := p.Now().Sub(t0); got != 400*time.Millisecond {
		t.Fatalf("paused Now = t0+%v, want t0+400ms", got)
	}
	p.Resume()
	if got := p.Now().Sub(t0); got != 400*time.Millisecond {
		t.Errorf("Now after Resume = t0+%v, want t0+400ms", got)
	}
	base.Advance(599 * time.Millisecond)
	if fired != 0 {
		t.Fatal("fired 1 ms early")
	}
	base.Advance(time.Millisecond)
	if fired != 1 {
		t.Errorf("fired %d times after the clock ran 1s, want 1", fired)
	}
	if p.AfterFunc(time.Second, func() { fired++ }).Stop() != true {
		t.Error("Stop of a pending timer reported false")
	}
	base.Advance(2 * time.Second)
	if fired != 1 {
		t.Error("a stopped timer fired")
	}
}
