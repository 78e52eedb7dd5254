package experiment

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/decode"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

// captures reads every captured interface into the timeline until stopped: one
// rawsock.Capture per socket, so that each frame reaches the timeline as soon as it is
// read (the timeline orders frames by their kernel timestamps). A merged Capture of all
// the sockets holds every frame back for rawsock.MergeWindow, and expectations that
// wait for a frame and then read a timer (E4's TIME_WAIT) would see that delay.
type captures struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan struct{} // closed when a capture fails
	conns  []*rawsock.Conn
	read   []atomic.Uint64 // frames read from each conn

	mu  sync.Mutex // guards err
	err error      // the first read error that ended a capture before stop

	seen atomic.Pointer[frameFunc] // told of each frame once it is on the timeline (tell)
}

// frameFunc is told of a frame captured on node at t, once it is on the timeline.
type frameFunc func(t time.Time, node string, f *timeline.Frame)

// tell has fn told of every frame from now on.
func (c *captures) tell(fn frameFunc) {
	if c != nil {
		c.seen.Store(&fn)
	}
}

func startCaptures(lab *testlab.Lab, tl *timeline.Timeline) (*captures, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &captures{cancel: cancel, failed: make(chan struct{}), read: make([]atomic.Uint64, len(tl.Endpoints))}
	for _, ep := range tl.Endpoints {
		conn, err := rawsock.Open(lab.Node(ep.Node), ep.Iface, nil)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("capture on %s: %w", ep, err)
		}
		c.conns = append(c.conns, conn)
	}
	for i, conn := range c.conns {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			sum := rawsock.NewSummarizer() // as tcpdump on the interface
			var line []byte
			var h decode.Headers
			err := rawsock.Capture(ctx, []*rawsock.Conn{conn}, func(f rawsock.Captured) error {
				// Data is the capture's buffer, valid during the call only: the frame is
				// decoded there once, and the timeline keeps a copy of it, of its line
				// and of its headers (rawsock's BenchmarkRunPath does the same).
				h.Decode(layers.LinkTypeEthernet, f.Frame.Data) // a fault leaves the headers before it
				line = sum.AppendHeaders(line[:0], &h)
				fr := tl.AddFrame(timeline.Captured{Time: f.Frame.Time, Index: i, Data: f.Frame.Data,
					Out: f.Frame.Type == rawsock.PacketOutgoing, Line: line, Headers: h})
				if seen := c.seen.Load(); seen != nil {
					(*seen)(f.Frame.Time, tl.Endpoints[i].Node, fr)
				}
				c.read[i].Add(1)
				return nil
			})
			if err != nil && ctx.Err() == nil {
				c.mu.Lock()
				if c.err == nil {
					c.err = err
					close(c.failed)
				}
				c.mu.Unlock()
			}
		}()
	}
	return c, nil
}

// sync waits until every frame the kernel has queued on the capture sockets so far
// has been read into the timeline (the kernel's PACKET_STATISTICS count against the
// frames read), or until timeout: on a loaded machine a reader goroutine can lag
// behind the link by more than any fixed pause.
func (c *captures) sync(timeout time.Duration) {
	if c == nil {
		return
	}
	want := make([]uint64, len(c.conns))
	for i, conn := range c.conns {
		if st, err := conn.Stats(); err == nil {
			want[i] = st.Received - st.Dropped
		}
	}
	end := time.Now().Add(timeout)
	for i := range c.conns {
		for c.read[i].Load() < want[i] && time.Now().Before(end) {
			select {
			case <-c.failed:
				return // a capture failed: its frames will not all come
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
}

// stop ends the capture and closes its sockets. Its error is the read error that
// ended the capture before stop was called (naming the interface), if any: a broken
// capture must not read as "0 matching frames".
func (c *captures) stop() error {
	if c == nil {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return fmt.Errorf("capture failed, its frames are incomplete: %w", c.err)
	}
	return nil
}

// statePoller reads every node's kernel TCP table every few milliseconds and records
// state changes on the timeline. Polling can miss a state that lasts less than the
// interval (SYN_SENT on a veth lasts microseconds); the timeline says "seen by
// sock_diag" so no reader mistakes it for a complete path.
type statePoller struct {
	cancel context.CancelFunc
	done   chan struct{}
}

const pollInterval = 5 * time.Millisecond

type sockKey struct {
	node          string
	local, remote netip.AddrPort
}

func startPoller(lab *testlab.Lab, tl *timeline.Timeline) *statePoller {
	ctx, cancel := context.WithCancel(context.Background())
	p := &statePoller{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		last := map[sockKey]sockdiag.State{}
		tick := time.NewTicker(pollInterval)
		defer tick.Stop()
		for {
			seen := map[sockKey]bool{}
			now := time.Now()
			for _, n := range lab.Nodes() {
				socks, err := sockdiag.ListAt(n.NetNSFd())
				now = time.Now() // the table as of the end of the dump
				if err != nil {
					continue
				}
				for _, s := range socks {
					if s.State == sockdiag.Listen {
						continue
					}
					k := sockKey{n.Name(), s.Local, s.Remote}
					seen[k] = true
					if old, ok := last[k]; !ok || old != s.State {
						from := timeline.StateNew
						if ok {
							from = old.String()
						}
						tl.Add(now, n.Name(), &timeline.KernelState{Local: s.Local, Remote: s.Remote, From: from, To: s.State.String(), Source: sourcePoll})
						last[k] = s.State
					}
				}
			}
			for k, st := range last {
				if !seen[k] {
					tl.Add(now, k.node, &timeline.KernelState{Local: k.local, Remote: k.remote, From: st.String(), To: timeline.StateGone, Source: sourcePoll})
					delete(last, k)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *statePoller) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}
