//go:build linux

package rawsock

import (
	"context"
	"errors"
	"sync"
	"time"
)

// MergeWindow is how long Capture holds a frame back so that a frame from another
// socket with an earlier timestamp can still go before it. Frames on the two ends of
// a veth are stamped microseconds apart but may be read in either order, and a ring
// socket delivers a frame up to ringRetire after its timestamp.
const MergeWindow = 2*ringRetire*time.Millisecond + 20*time.Millisecond

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
	frames := make(chan []Captured, 64)
	errc := make(chan error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- readInto(ctx, i, c, frames)
		}()
	}
	var q frameHeap
	release := func(all bool) error {
		cut := time.Now().Add(-MergeWindow)
		for len(q) > 0 && (all || q[0].Frame.Time.Before(cut)) {
			if err := fn(q.pop()); err != nil {
				return err
			}
		}
		return nil
	}
	// finish stops the readers, takes the batches they still hand over, and, unless
	// fn failed, passes every frame on.
	finish := func(err error, deliver bool) error {
		cancel()
		go func() {
			wg.Wait()
			close(frames)
			close(errc)
		}()
		for batch := range frames {
			for _, f := range batch {
				q.push(f)
			}
		}
		for rerr := range errc {
			if rerr != nil && !errors.Is(rerr, context.Canceled) {
				err = errors.Join(err, rerr)
			}
		}
		if deliver {
			err = errors.Join(err, release(true))
		}
		return err
	}
	tick := time.NewTicker(MergeWindow / 2)
	defer tick.Stop()
	for {
		select {
		case batch := <-frames:
			for _, f := range batch {
				q.push(f)
			}
		case <-tick.C:
			if err := release(false); err != nil {
				return finish(err, false)
			}
		case err := <-errc:
			if ctx.Err() != nil {
				err = nil
			}
			return finish(err, true)
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
				undo() // before the drain sets a deadline of its own
				var ferr error
				derr := c.drain(buf, func(f Frame) {
					if ferr == nil {
						ferr = fn(Captured{Frame: f})
					}
				})
				return errors.Join(ferr, derr)
			}
			return c.opError("read", c.ioError(ctx, err))
		}
		if err := fn(Captured{Frame: f}); err != nil {
			return err
		}
	}
}

// slabSize is the size of the blocks readInto copies frames into: one allocation per
// thousands of small frames instead of one per frame.
const slabSize = 1 << 20

// readInto reads frames from c and sends copies of them on out, in batches, until
// ctx ends. A batch goes out when it is full or when the socket has nothing more
// queued: handing frames over one by one would wake the merging goroutine for every
// frame, which is what made merged captures drop under load.
func readInto(ctx context.Context, i int, c *Conn, out chan<- []Captured) error {
	buf := make([]byte, 1<<18)
	var slab []byte
	batch := make([]Captured, 0, batchSize)
	undo := withDeadline(ctx, c.pc.SetReadDeadline)
	defer undo()
	// send hands the batch over; once ctx has ended it still does (Capture drains
	// the channel until every reader has returned) and reports false.
	send := func() bool {
		if len(batch) == 0 {
			return ctx.Err() == nil
		}
		select {
		case out <- batch:
			batch = make([]Captured, 0, batchSize)
			return ctx.Err() == nil
		case <-ctx.Done():
			out <- batch
			batch = make([]Captured, 0, batchSize)
			return false
		}
	}
	// add copies f into the slab and appends it to the batch. Frames keep their slab
	// alive until the consumer drops them; a full slab is left to the garbage
	// collector and a new one started.
	add := func(f Frame) {
		if len(f.Data) > cap(slab)-len(slab) {
			slab = make([]byte, 0, max(slabSize, len(f.Data)))
		}
		n := len(slab)
		slab = append(slab, f.Data...)
		f.Data = slab[n:len(slab):len(slab)]
		batch = append(batch, Captured{Source: i, Frame: f})
	}
	// stopped hands over what is still queued, frames of a part-filled ring block
	// included, once ctx has ended.
	stopped := func() error {
		undo() // before the drain sets a deadline of its own
		err := c.drain(buf, func(f Frame) {
			add(f)
			if len(batch) == batchSize {
				send()
			}
		})
		send()
		return err
	}
	for {
		f, ok, err := c.readFrameMode(buf, false)
		if err == nil && !ok {
			if !send() {
				return stopped()
			}
			f, err = c.readFrame(buf)
		}
		if err != nil {
			if ctx.Err() != nil {
				return stopped()
			}
			send()
			return c.opError("read", c.ioError(ctx, err))
		}
		add(f)
		if len(batch) == batchSize && !send() {
			return stopped()
		}
	}
}

// batchSize is the most frames a reader hands over at once.
const batchSize = 256

// frameHeap is a binary min-heap of frames by timestamp, then source. It is typed
// rather than built on container/heap, whose interface boxing would allocate for
// every frame.
type frameHeap []Captured

func (h frameHeap) less(i, j int) bool {
	ti, tj := h[i].Frame.Time, h[j].Frame.Time
	if !ti.Equal(tj) {
		return ti.Before(tj)
	}
	return h[i].Source < h[j].Source
}

func (h *frameHeap) push(c Captured) {
	*h = append(*h, c)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *frameHeap) pop() Captured {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = Captured{} // drop the reference to the frame's slab
	q = q[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
