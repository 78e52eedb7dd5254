package ktrace_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/testlab"
)

// segment is a captured IPv4 TCP frame.
type segment struct {
	rawsock.Frame
	sport, dport uint16
	seq          uint32
	flags        header.TCPFlags
}

// capture records the IPv4 TCP frames of node n's eth0 (cooked: from the IP header)
// until the test ends.
type capture struct {
	mu      sync.Mutex
	segs    []segment
	changed chan struct{} // closed and replaced on every frame
}

func captureTCP(t *testing.T, n *testlab.Node) *capture {
	t.Helper()
	// A ring socket: the kernel stamps each frame as it hands it over (tpacket_rcv, in
	// the path of the packet, before TCP sees it). A recvmsg socket's frame is stamped
	// when it is read while the kernel's timestamp key is still being switched on
	// (net_enable_timestamp defers that to a work item), which under load put a
	// SYN-ACK after the state change it caused.
	conn, err := rawsock.Open(n, "eth0", &rawsock.Config{Cooked: true, Ring: rawsock.MinRing})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &capture{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			f, err := conn.ReadFrame(ctx, buf)
			if err != nil {
				if !errors.Is(err, context.Canceled) && ctx.Err() == nil {
					t.Errorf("capture on %s: %v", n.Name(), err)
				}
				return
			}
			d := f.Data
			if len(d) < 20 || d[0]>>4 != 4 || d[9] != 6 || len(d) < int(d[0]&0xf)*4+20 {
				continue
			}
			th := d[int(d[0]&0xf)*4:]
			s := segment{Frame: f, sport: binary.BigEndian.Uint16(th), dport: binary.BigEndian.Uint16(th[2:]),
				seq: binary.BigEndian.Uint32(th[4:]), flags: header.TCPFlags(th[13])}
			s.Data = nil
			c.mu.Lock()
			c.segs = append(c.segs, s)
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	return c
}

// find waits for the first captured frame pred accepts: the kernel may report an
// event before the capture has read the frame that caused it.
func (c *capture) find(t *testing.T, what string, pred func(segment) bool) segment {
	t.Helper()
	deadline := time.After(failAfter)
	for {
		c.mu.Lock()
		for _, s := range c.segs {
			if pred(s) {
				c.mu.Unlock()
				return s
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no captured %s after %v", what, failAfter)
		}
	}
}

// TestNftablesDrop: a SYN dropped by an nftables rule in the server is a
// NETFILTER_DROP on the server node, none on the client, with the headers of the
// captured frame, timed after the frame reached the server's interface and before
// the SYN was sent again.
func TestNftablesDrop(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a, b := lab.Node("a"), lab.Node("b")
	cap := captureTCP(t, b)
	inputFilter(t, b, "tcp dport 7007 counter drop")
	srv, cli := netip.MustParseAddrPort("198.18.0.2:7007"), netip.MustParseAddrPort("198.18.0.1:41007")
	connectNB(t, a, cli, srv)
	dropped := func(d *ktrace.Drop) bool {
		return d.Reason == "NETFILTER_DROP" && d.Packet != nil && d.Packet.DstPort == srv.Port()
	}
	// Two drops: the SYN and its first retransmission, so the capture holds both.
	bev := recs["b"].wait(t, "NETFILTER_DROP of the SYN and its retransmission", func(evs []ktrace.Event) bool {
		n := 0
		for _, ev := range evs {
			if d, ok := ev.(*ktrace.Drop); ok && dropped(d) {
				n++
			}
		}
		return n >= 2
	})
	var drop *ktrace.Drop
	for _, ev := range bev {
		if d, ok := ev.(*ktrace.Drop); ok && dropped(d) {
			drop = d
			break
		}
	}
	p := drop.Packet
	if p.Src != cli.Addr() || p.Dst != srv.Addr() || p.SrcPort != cli.Port() || p.Proto != 6 || p.Flags != header.TCPFlagSYN || p.Length != 60 {
		t.Errorf("dropped packet %v (length %d), want the 60-byte SYN %v > %v", p, p.Length, cli, srv)
	}
	if drop.Node != "b" || drop.SockState != 0 {
		t.Errorf("drop on node %q with socket state %v, want node b and no socket", drop.Node, drop.SockState)
	}
	syns := func(s segment) bool { return s.dport == srv.Port() && s.flags == header.TCPFlagSYN }
	first := cap.find(t, "SYN", func(s segment) bool { return syns(s) && s.seq == p.Seq })
	second := cap.find(t, "SYN retransmission", func(s segment) bool { return syns(s) && s.Time.After(first.Time) })
	if !drop.Time.After(first.Time) || !drop.Time.Before(second.Time) {
		t.Errorf("drop at %v; want it after the SYN frame at %v and before its retransmission at %v", drop.Time, first.Time, second.Time)
	}
	if has(recs["a"].snapshot(), func(d *ktrace.Drop) bool { return d.Reason == "NETFILTER_DROP" }) {
		t.Errorf("NETFILTER_DROP on the client node:\n%s", dump(recs["a"].snapshot()))
	}
}

// TestStateTimesBetweenFrames: the client's SYN_SENT → ESTABLISHED sorts after the
// SYN-ACK frame that caused it and before the ACK it answers with; its CLOSE →
// SYN_SENT before the SYN.
func TestStateTimesBetweenFrames(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	cap := captureTCP(t, lab.Node("a"))
	_, _, cli, srv := connected(t, lab, recs, 8)
	evs := recs["a"].wait(t, "ESTABLISHED", reaches(toPort(srv.Port()), est))
	var synSentAt, estAt ktrace.StateChange
	for _, e := range states(evs) {
		if e.Remote.Port() == srv.Port() && e.New == sockdiag.SynSent {
			synSentAt = *e
		}
		if e.Remote.Port() == srv.Port() && e.New == est {
			estAt = *e
		}
	}
	syn := cap.find(t, "SYN", func(s segment) bool { return s.sport == cli.Port() && s.flags == header.TCPFlagSYN })
	synack := cap.find(t, "SYN-ACK", func(s segment) bool { return s.dport == cli.Port() && s.flags == header.TCPFlagSYN|header.TCPFlagACK })
	ack := cap.find(t, "ACK", func(s segment) bool { return s.sport == cli.Port() && s.flags == header.TCPFlagACK })
	if !synSentAt.Time.Before(syn.Time) {
		t.Errorf("CLOSE → SYN_SENT at %v, not before the SYN at %v", synSentAt.Time, syn.Time)
	}
	if !estAt.Time.After(synack.Time) || !estAt.Time.Before(ack.Time) {
		t.Errorf("SYN_SENT → ESTABLISHED at %v, want between the SYN-ACK at %v and the ACK at %v", estAt.Time, synack.Time, ack.Time)
	}
}
