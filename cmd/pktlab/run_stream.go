package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/picture"
	"github.com/pktlab/pktlab/timeline"
	"golang.org/x/sys/unix"
)

// streamWindow is how long an event is held before it is printed: long enough
// that the two copies of a frame on a link (two capture sockets, read by two
// goroutines, a ring block handed over tens of milliseconds late) pair, and that
// events recorded a little out of order sort, short enough to follow a run live.
const streamWindow = 100 * time.Millisecond

// runStream prints a run's report while it goes: the head (file, lab, comment)
// and then the timeline's lines (text) or records (JSON) as events arrive; the
// caller writes the flows and outcomes once the run ended.
type runStream struct {
	w       io.Writer
	f       *experiment.File
	json    bool
	chatter bool // show link-local chatter (--chatter), else count it in hidden
	hidden  int  // chatter events left out of the text
	// clear starts each text line by erasing the terminal's line, where the progress
	// line (on stderr, the same terminal) may stand.
	clear  bool
	mu     sync.Mutex // guards started, stream, tl
	start  bool       // the head was written
	tl     *timeline.Timeline
	stream *timeline.Stream
	stop   chan struct{}
	done   chan struct{}
}

// watch is the run's Options.Watch: it writes the head and starts streaming.
func (s *runStream) watch(lab string, tl *timeline.Timeline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.json {
		timeline.WriteRecord(s.w, timeline.Record{Type: "run", Time: tl.Start, Body: runJSON{File: s.f.Path, Lab: lab, Comment: s.f.Comment}})
	} else {
		writeRunHead(s.w, s.f, lab)
		io.WriteString(s.w, picture.Legend+"\n")
	}
	s.start, s.tl = true, tl
	s.stream = tl.Watch(s.emit)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.release()
}

// emit writes one event; the timeline is locked (timeline.Watch).
func (s *runStream) emit(e timeline.Event) {
	if s.json {
		timeline.WriteRecord(s.w, picture.RunRecord(s.tl, e))
		return
	}
	if f := e.Frame(); f != nil && f.Dup {
		return
	}
	if !s.chatter && timeline.Chatter(e) {
		s.hidden++
		return
	}
	if o, ok := e.Data.(*timeline.Outcome); ok && o.Pass {
		return // the outcomes are listed at the end; inline, only a failure stands out
	}
	if s.clear {
		io.WriteString(s.w, "\r\033[K")
	}
	fmt.Fprintln(s.w, s.tl.Line(e))
}

// writeEnd writes what closes a streamed text timeline: the flows, and how many
// events of chatter it left out.
func (s *runStream) writeEnd(w io.Writer) {
	if err := s.tl.WriteFlows(w); err != nil {
		fmt.Fprintf(w, "pktlab: %v\n", err)
	}
	if s.hidden > 0 {
		fmt.Fprintf(w, "hidden: %d event(s) of link-local chatter (MLD reports, solicitations to multicast, IPv6 link-local, the kernel's drops of them); --chatter shows them\n", s.hidden)
	}
}

// release hands over what is older than the window, every quarter window, until
// close.
func (s *runStream) release() {
	defer close(s.done)
	tick := time.NewTicker(streamWindow / 4)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			s.stream.Release(now.Add(-streamWindow))
		}
	}
}

// close prints what is still held and ends the stream; it reports whether the
// head was written (a run that failed before its timeline existed wrote none).
func (s *runStream) close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		close(s.stop)
		<-s.done
		s.stream.Close()
		s.stream = nil
	}
	return s.start
}

// onBrokenPipe ends ctx as a signal does when the reader of stdout went away
// (`pktlab run … | head`): the run stops, removes its lab and exits 141, where the
// SIGPIPE of its next streamed line would have killed it with the lab still up. A
// SIGPIPE of any other write (a lab socket's) is left alone: only a stdout whose
// pipe reports an error (POLLERR, poll(2)) ends the run.
func onBrokenPipe(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGPIPE)
	go func() {
		for {
			select {
			case <-sigs:
				fds := []unix.PollFd{{Fd: int32(os.Stdout.Fd()), Events: unix.POLLOUT}}
				if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0 {
					cancel(&signalErr{syscall.SIGPIPE})
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}
