//go:build linux

package rawsock

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// MergeWindow is how long Capture holds a frame back so that a frame from another
// socket with an earlier timestamp can still go before it. Frames on the two ends of
// a veth are stamped microseconds apart but may be read in either order.
const MergeWindow = 20 * time.Millisecond

// Captured is one frame of a Capture: the index of the socket it came from and the
// frame, whose Data is valid only during the callback.
type Captured struct {
	Source int
	Frame  Frame
}

// Capture reads from every conn at once and calls fn with the frames merged in
// timestamp order, until ctx ends (it then returns nil), a read fails, or fn returns
// an error (which Capture returns). It owns one reader goroutine per socket and has
// stopped them all when it returns.
func Capture(ctx context.Context, conns []*Conn, fn func(Captured) error) error {
	if len(conns) == 1 {
		return captureOne(ctx, conns[0], fn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frames := make(chan Captured, 1024)
	errc := make(chan error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- readInto(ctx, i, c, frames)
		}()
	}
	defer wg.Wait()
	defer cancel()
	var q frameHeap
	tick := time.NewTicker(MergeWindow / 2)
	defer tick.Stop()
	release := func(all bool) error {
		cut := time.Now().Add(-MergeWindow)
		for len(q) > 0 && (all || q[0].Frame.Time.Before(cut)) {
			if err := fn(heap.Pop(&q).(Captured)); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		select {
		case f := <-frames:
			heap.Push(&q, f)
		case <-tick.C:
			if err := release(false); err != nil {
				return err
			}
		case err := <-errc:
			if ctx.Err() != nil || err == nil {
				err = nil
			}
			cancel()
			wg.Wait()
			close(frames)
			for f := range frames {
				heap.Push(&q, f)
			}
			return errors.Join(err, release(true))
		}
	}
}

// captureOne is Capture for one socket: nothing to merge, so frames go to fn
// straight from the read buffer, without a copy or a hand-off between goroutines.
func captureOne(ctx context.Context, c *Conn, fn func(Captured) error) error {
	buf := make([]byte, 1<<18)
	undo := withDeadline(ctx, c.pc.SetReadDeadline)
	defer undo()
	for {
		f, err := c.readFrame(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return c.opError("read", c.ioError(ctx, err))
		}
		if err := fn(Captured{Frame: f}); err != nil {
			return err
		}
	}
}

// readInto reads frames from c into fresh buffers and sends them on out until ctx
// ends.
func readInto(ctx context.Context, i int, c *Conn, out chan<- Captured) error {
	buf := make([]byte, 1<<18)
	undo := withDeadline(ctx, c.pc.SetReadDeadline)
	defer undo()
	for {
		f, err := c.readFrame(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return c.opError("read", c.ioError(ctx, err))
		}
		f.Data = append([]byte(nil), f.Data...)
		select {
		case out <- Captured{Source: i, Frame: f}:
		case <-ctx.Done():
			return nil
		}
	}
}

// frameHeap orders frames by timestamp, then by source.
type frameHeap []Captured

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].Frame.Time.Equal(h[j].Frame.Time) {
		return h[i].Frame.Time.Before(h[j].Frame.Time)
	}
	return h[i].Source < h[j].Source
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(Captured)) }
func (h *frameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
