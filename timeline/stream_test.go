package timeline

import (
	"testing"
	"time"
)

// TestStreamPairsSortsAndStaysTrue: a stream hands events over in time order once
// Release passes them, with the two copies of a frame paired when both came within
// the window (the sender's copy shown, the receiver's Dup); a copy that comes after
// its twin was handed over is the one marked Dup, so what was shown stays true. The
// timeline keeps every event.
func TestStreamPairsSortsAndStaysTrue(t *testing.T) {
	start := time.Unix(1000, 0)
	c := newCapture(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
	var got []Event
	s := c.tl.Watch(func(e Event) { got = append(got, e) })
	syn := tcpFrame(t, true, 1000, 0, "S", 0)
	c.add(start.Add(20*time.Microsecond), 1, syn, false) // the receiver's copy first
	c.tl.Note(start.Add(10*time.Microsecond), "", "before the SYN")
	c.add(start.Add(10*time.Microsecond), 0, syn, true)
	s.Release(start.Add(time.Millisecond))
	if len(got) != 3 || got[0].Kind() != KindNote || !got[1].Frame().Out || got[1].Frame().Dup || !got[2].Frame().Dup {
		t.Fatalf("handed over %v, want the note, the sender's SYN, the receiver's copy marked Dup", got)
	}
	ack := tcpFrame(t, true, 1001, 5001, ".", 0)
	c.add(start.Add(2*time.Millisecond), 1, ack, false)
	s.Release(start.Add(3 * time.Millisecond))
	late := c.add(start.Add(2*time.Millisecond-time.Microsecond), 0, ack, true) // the sender's copy, late
	s.Close()
	if len(got) != 5 || got[3].Frame().Dup || !late.Dup || got[4].Frame() != late {
		t.Errorf("the late sender copy: handed over %v, want the shown receiver copy kept and the late one Dup", got[3:])
	}
	if n := len(c.tl.Events()); n != 5 {
		t.Errorf("timeline keeps %d events, want 5", n)
	}
	c.tl.Note(start.Add(4*time.Millisecond), "", "after close")
	if len(got) != 5 {
		t.Errorf("an event after Close was handed over")
	}
}
