// Package clock is the time source of what drives tcpstate's machine. The machine
// itself takes the current time as an argument of every call; its driver,
// tcpstate/host, asks a Clock for that time and for its timers, so that a test can
// run the host on a Manual clock and advance time instead of sleeping, and `pktlab
// tcp --step` can freeze time (Pausable) while it waits for the user.
//
// Three clocks: Real, the wall clock (time.Now and time.AfterFunc); Manual, whose
// time moves only when told to and whose timers fire inside Advance; Pausable, a
// clock over another that stands still between Pause and Resume, so that what it
// times (retransmission timeouts, delayed ACKs) does not run out while it is paused.
//
// What clock must not touch: anything but time. It knows nothing of TCP.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and runs functions after a delay.
type Clock interface {
	// Now returns the clock's current time.
	Now() time.Time
	// AfterFunc calls f once d has passed on this clock, as time.AfterFunc does;
	// a d of zero or less calls it as soon as it can.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
	// Reset makes the call happen d from now (again, if it happened); it reports
	// whether the call was still pending.
	Reset(d time.Duration) bool
	// ResetAt is Reset for the instant t of the clock. Where another goroutine
	// moves the clock (Manual), no move can fall between reading the time and
	// arming, as it could with Reset(t.Sub(c.Now())).
	ResetAt(t time.Time) bool
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

type realTimer struct{ *time.Timer }

func (t realTimer) ResetAt(at time.Time) bool { return t.Reset(time.Until(at)) }

// Since returns the time elapsed on c since t.
func Since(c Clock, t time.Time) time.Duration { return c.Now().Sub(t) }

// Until returns the duration on c until t.
func Until(c Clock, t time.Time) time.Duration { return t.Sub(c.Now()) }

// Manual is a clock that moves only by Advance and Set. Timers due at the new time
// run inside that call, in the order of their deadlines, on the caller's goroutine;
// a timer armed for a time not after Now runs at once, on the goroutine that armed
// it. Safe for concurrent use.
type Manual struct {
	mu     sync.Mutex // guards now and timers
	now    time.Time
	timers map[*manualTimer]bool // pending
}

// NewManual returns a Manual clock showing t.
func NewManual(t time.Time) *Manual {
	return &Manual{now: t, timers: map[*manualTimer]bool{}}
}

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d and runs the timers that fall due.
func (m *Manual) Advance(d time.Duration) { m.Set(m.Now().Add(d)) }

// Set moves the clock to t (never backwards) and runs the timers that fall due, one
// deadline at a time, so that a timer a callback arms for a time up to t runs too.
func (m *Manual) Set(t time.Time) {
	for {
		m.mu.Lock()
		var due []*manualTimer
		for mt := range m.timers {
			if !mt.at.After(t) {
				due = append(due, mt)
			}
		}
		if len(due) == 0 {
			if t.After(m.now) {
				m.now = t
			}
			m.mu.Unlock()
			return
		}
		sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
		first := due[0]
		delete(m.timers, first)
		if first.at.After(m.now) {
			m.now = first.at
		}
		m.mu.Unlock()
		first.f()
	}
}

// Pending returns how many timers are armed.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

// NextDeadline returns when the earliest armed timer falls due (ok false if none is).
func (m *Manual) NextDeadline() (at time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for mt := range m.timers {
		if !ok || mt.at.Before(at) {
			at, ok = mt.at, true
		}
	}
	return at, ok
}

// AfterFunc arms a timer that calls f when the clock reaches Now()+d.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	mt := &manualTimer{m: m, f: f}
	mt.Reset(d)
	return mt
}

type manualTimer struct {
	m  *Manual
	f  func()
	at time.Time // guarded by m.mu
}

func (mt *manualTimer) Stop() bool {
	mt.m.mu.Lock()
	defer mt.m.mu.Unlock()
	was := mt.m.timers[mt]
	delete(mt.m.timers, mt)
	return was
}

func (mt *manualTimer) Reset(d time.Duration) bool {
	mt.m.mu.Lock()
	return mt.resetLocked(mt.m.now.Add(d))
}

func (mt *manualTimer) ResetAt(at time.Time) bool {
	mt.m.mu.Lock()
	return mt.resetLocked(at)
}

// resetLocked arms the timer for at; called with m.mu held, which it releases.
func (mt *manualTimer) resetLocked(at time.Time) bool {
	m := mt.m
	was := m.timers[mt]
	if !at.After(m.now) {
		delete(m.timers, mt)
		m.mu.Unlock()
		mt.f()
		return was
	}
	mt.at = at
	m.timers[mt] = true
	m.mu.Unlock()
	return was
}

// Pausable is a clock over another that can be paused: between Pause and Resume its
// time stands still and its timers wait, and after Resume it goes on from where it
// stopped, so a pause never makes a deadline pass. Timers are armed on the base
// clock and, when one fires early because of a pause, armed again for what is left.
type Pausable struct {
	base Clock

	mu       sync.Mutex // guards every field below
	paused   bool
	frozen   time.Time     // Now while paused
	lost     time.Duration // base time spent paused, before the current pause
	pausedAt time.Time     // base time of the current pause
	waiting  []*pausableTimer
}

// NewPausable returns a running Pausable clock over base.
func NewPausable(base Clock) *Pausable { return &Pausable{base: base} }

// Now returns the base clock's time less the time spent paused.
func (p *Pausable) Now() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nowLocked()
}

func (p *Pausable) nowLocked() time.Time {
	if p.paused {
		return p.frozen
	}
	return p.base.Now().Add(-p.lost)
}

// Pause stops the clock; it is a no-op if the clock is paused.
func (p *Pausable) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return
	}
	p.frozen = p.nowLocked()
	p.pausedAt = p.base.Now()
	p.paused = true
}

// Resume starts the clock again from where it stopped, and re-arms the timers that
// fell due during the pause; it is a no-op if the clock runs.
func (p *Pausable) Resume() {
	p.mu.Lock()
	if !p.paused {
		p.mu.Unlock()
		return
	}
	p.lost += p.base.Now().Sub(p.pausedAt)
	p.paused = false
	waiting := p.waiting
	p.waiting = nil
	p.mu.Unlock()
	for _, t := range waiting {
		t.check()
	}
}

// AfterFunc arms a timer that calls f when the clock has run for d.
func (p *Pausable) AfterFunc(d time.Duration, f func()) Timer {
	t := &pausableTimer{p: p, f: f}
	t.Reset(d)
	return t
}

type pausableTimer struct {
	p *Pausable
	f func()

	mu      sync.Mutex // guards the fields below
	at      time.Time  // on p's time
	base    Timer      // the base clock's timer for it
	pending bool
}

func (t *pausableTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resetLocked(t.p.Now().Add(d))
}

func (t *pausableTimer) ResetAt(at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resetLocked(at)
}

// resetLocked arms the timer for at on p's time; called with t.mu held. The base
// timer is armed for the time left now; check re-arms it if a pause intervenes.
func (t *pausableTimer) resetLocked(at time.Time) bool {
	was := t.pending
	if t.base != nil {
		t.base.Stop()
	}
	t.at = at
	t.pending = true
	t.base = t.p.base.AfterFunc(at.Sub(t.p.Now()), t.check)
	return was
}

func (t *pausableTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.pending
	t.pending = false
	if t.base != nil {
		t.base.Stop()
	}
	return was
}

// check runs f if the timer is due on p's time, else arms it for what is left, or,
// while p is paused, leaves it to Resume.
func (t *pausableTimer) check() {
	t.mu.Lock()
	if !t.pending {
		t.mu.Unlock()
		return
	}
	p := t.p
	p.mu.Lock()
	if p.paused {
		p.waiting = append(p.waiting, t)
		p.mu.Unlock()
		t.mu.Unlock()
		return
	}
	left := t.at.Sub(p.nowLocked())
	p.mu.Unlock()
	if left > 0 {
		t.base = p.base.AfterFunc(left, t.check)
		t.mu.Unlock()
		return
	}
	t.pending = false
	t.mu.Unlock()
	t.f()
}
