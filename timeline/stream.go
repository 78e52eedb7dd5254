package timeline

import (
	"slices"
	"time"
)

// Stream hands a timeline's events to a reader as they are added, in time order
// within a window the reader advances (Release), so that a command can print a run
// while it goes: the two copies of a frame on a link pair, and events recorded a
// little out of order sort, before either is handed over. The timeline still keeps
// every event. A copy that arrives after its twin was handed over is marked Dup
// itself, so what was handed over stays true.
type Stream struct {
	tl      *Timeline
	emit    func(Event)
	pending []Event
	done    bool
}

// Watch starts a stream: every event added from now on is held until Release passes
// its time, then handed to emit. emit runs with the timeline locked: it may render
// the event (Line, Record) but not add to or read the timeline.
func (tl *Timeline) Watch(emit func(Event)) *Stream {
	s := &Stream{tl: tl, emit: emit}
	tl.mu.Lock()
	tl.stream = s
	tl.mu.Unlock()
	return s
}

// Release hands over, in time order, the held events that happened at or before
// cutoff.
func (s *Stream) Release(cutoff time.Time) {
	s.tl.mu.Lock()
	defer s.tl.mu.Unlock()
	s.release(cutoff, false)
}

// Close hands over every event still held and ends the stream.
func (s *Stream) Close() {
	s.tl.mu.Lock()
	defer s.tl.mu.Unlock()
	s.release(time.Time{}, true)
	s.done = true
	s.tl.stream = nil
}

// release hands over the held events up to cutoff (all of them with all); tl.mu is
// held.
func (s *Stream) release(cutoff time.Time, all bool) {
	if s.done {
		return
	}
	if !slices.IsSortedFunc(s.pending, byTime) {
		// Copies read by different captures interleave out of order; most often
		// they do not, and what is held is already in order.
		slices.SortStableFunc(s.pending, byTime)
	}
	n := 0
	for n < len(s.pending) && (all || !s.pending[n].Time.After(cutoff)) {
		e := s.pending[n]
		if f := e.Frame(); f != nil {
			f.shown = true
		}
		s.emit(e)
		n++
	}
	s.pending = append(s.pending[:0], s.pending[n:]...)
}

// byTime orders events by their time.
func byTime(a, b Event) int { return a.Time.Compare(b.Time) }
