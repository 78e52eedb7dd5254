package rawsock

import (
	"math/rand"
	"testing"
	"time"
)

// TestFrameHeapOrder pushes frames in random order and pops them sorted by time,
// then source.
func TestFrameHeapOrder(t *testing.T) {
	var h frameHeap
	base := time.Unix(1000, 0)
	for _, i := range rand.Perm(500) {
		h.push(Captured{Source: i % 3, Frame: Frame{Time: base.Add(time.Duration(i/3) * time.Microsecond)}})
	}
	var last Captured
	for n := 0; len(h) > 0; n++ {
		c := h.pop()
		if n > 0 && (c.Frame.Time.Before(last.Frame.Time) || c.Frame.Time.Equal(last.Frame.Time) && c.Source < last.Source) {
			t.Fatalf("pop %d: %v/%d after %v/%d", n, c.Frame.Time, c.Source, last.Frame.Time, last.Source)
		}
		last = c
	}
}
