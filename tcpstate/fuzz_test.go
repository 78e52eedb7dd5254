package tcpstate

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// machineIn returns a connection in state s (after real exchanges on a link) and
// the highest sequence number its peer has sent.
func machineIn(t *testing.T, s State) *Conn {
	l := newLink(t, &Config{TimeWait: time.Hour}, &Config{TimeWait: time.Hour})
	switch s {
	case Closed:
		return l.a
	case Listen:
		return NewListening(nil, addrB, addrA, t0)
	case SynSent:
		l.a.Connect(l.now)
		return l.a
	case SynReceived:
		c := NewListening(nil, addrB, addrA, t0)
		c.HandleSegment(t0, &Segment{Seq: 1000, Flags: header.TCPFlagSYN, Window: 1000, Options: Options{MSS: 1000, HasTS: true, TSVal: 5, SACKPermitted: true, HasWScale: true, WScale: 2}})
		return c
	}
	l.handshake()
	l.transfer(l.a, []byte("some data"), time.Minute)
	l.transfer(l.b, []byte("more data"), time.Minute)
	switch s {
	case Established:
		return l.a
	case FinWait1:
		l.a.Close(l.now)
		return l.a
	case Closing:
		l.take(l.a, l.a.Close(l.now))
		l.take(l.b, l.b.Close(l.now))
		w := l.inflight[1]
		l.a.HandleSegment(l.now, &w.seg)
		return l.a
	}
	l.take(l.a, l.a.Close(l.now))
	l.deliver()
	switch s {
	case FinWait2:
		return l.a
	case CloseWait:
		return l.b
	case LastAck:
		l.b.Close(l.now)
		return l.b
	}
	l.take(l.b, l.b.Close(l.now))
	l.deliver()
	return l.a
}

// FuzzSegments feeds arbitrary segments (and timer firings) to a connection in each
// state: it must not panic, and its invariants must hold after every step.
func FuzzSegments(f *testing.F) {
	f.Add(uint8(4), []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 5})
	f.Add(uint8(2), []byte{0x12, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0, 0})
	f.Add(uint8(10), []byte{0x11, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x10, 0, 0})
	f.Add(uint8(5), []byte{0x04, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0})
	f.Add(uint8(6), []byte{0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200, 0x80})
	f.Fuzz(func(t *testing.T, st uint8, data []byte) {
		s := State(st % 11)
		c := machineIn(t, s)
		now := t0.Add(time.Second)
		maxSeen := c.rcvNxt
		for step := 0; len(data) >= 12 && step < 32; step++ {
			seg, rest := decodeFuzzSegment(c, data)
			data = rest
			if e := seg.End(); maxSeen.LessThan(e) || c.state == Listen || c.state == SynSent {
				maxSeen = e
			}
			before := c.rcvNxt
			out := c.HandleSegment(now, &seg)
			checkInvariants(t, c, out, maxSeen, before)
			now = now.Add(time.Duration(seg.Window%700) * time.Millisecond)
			if seg.Window%3 == 0 {
				if d := c.NextDeadline(); !d.IsZero() && d.Before(now.Add(time.Hour)) {
					now = d
				}
				checkInvariants(t, c, c.OnTimer(now), maxSeen, c.rcvNxt)
			}
			if seg.Window%5 == 0 {
				_, out := c.Read(now, make([]byte, 100))
				checkInvariants(t, c, out, maxSeen, c.rcvNxt)
			}
		}
	})
}

// decodeFuzzSegment reads flags(1) seqoff(4) ackoff(4) window(2) plen(1), options
// from the flag's high bits, then the payload; offsets are relative to what the
// connection expects, so segments land near its windows.
func decodeFuzzSegment(c *Conn, b []byte) (Segment, []byte) {
	var s Segment
	s.Flags = header.TCPFlags(b[0]) &^ (header.TCPFlagURG | header.TCPFlagECE | header.TCPFlagCWR)
	s.Seq = c.rcvNxt + seqnum.Value(int32(binary.BigEndian.Uint32(b[1:5]))>>8)
	s.Ack = c.sndUna + seqnum.Value(int32(binary.BigEndian.Uint32(b[5:9]))>>12)
	s.Window = binary.BigEndian.Uint16(b[9:11])
	plen := int(b[11])
	b = b[12:]
	if plen > len(b) {
		plen = len(b)
	}
	s.Payload = append([]byte(nil), b[:plen]...)
	b = b[plen:]
	if s.Flags&header.TCPFlagURG != 0 || len(s.Payload)%3 == 1 {
		s.Options.HasTS, s.Options.TSVal, s.Options.TSEcr = true, uint32(s.Window)<<8, uint32(s.Seq)
	}
	if len(s.Payload)%4 == 2 {
		s.Options.NumSACK = 1
		s.Options.SACK[0] = SACKBlock{Left: s.Ack, Right: s.Ack + seqnum.Value(s.Window)}
	}
	if s.Flags&header.TCPFlagSYN != 0 {
		s.Options.MSS = s.Window
		s.Options.HasWScale, s.Options.WScale = true, uint8(s.Window%20)
		s.Options.SACKPermitted = s.Window%2 == 0
	}
	return s, b
}

func checkInvariants(t *testing.T, c *Conn, out Output, maxSeen, rcvBefore seqnum.Value) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%v: %s\ninfo %+v", c.state, fmt.Sprintf(format, args...), c.Info())
	}
	if c.sndNxt.LessThan(c.sndUna) {
		fail("SND.NXT %d before SND.UNA %d", c.sndNxt, c.sndUna)
	}
	if c.state >= SynReceived && c.state != Listen {
		if maxSeen.LessThan(c.rcvNxt) {
			fail("RCV.NXT %d beyond anything received (%d)", c.rcvNxt, maxSeen)
		}
		for _, s := range out.Segments {
			if s.Flags&header.TCPFlagACK != 0 && s.Flags&header.TCPFlagRST == 0 && maxSeen.LessThan(s.Ack) {
				fail("ACK %d of unseen data (highest %d)", s.Ack, maxSeen)
			}
		}
	}
	if c.sndWnd > 0xffff<<MaxWScale {
		fail("send window %d out of bounds", c.sndWnd)
	}
	if c.rcvNxt.LessThan(c.rcvRight) && int(c.rcvNxt.Size(c.rcvRight)) > c.cfg.ReceiveBuffer+1<<c.rcvWScale {
		fail("receive window %d beyond the buffer %d", c.rcvNxt.Size(c.rcvRight), c.cfg.ReceiveBuffer)
	}
	if c.sndUna.LessThan(c.rtxNext) && c.sndNxt.LessThan(c.rtxNext) {
		fail("rtxNext %d beyond SND.NXT %d", c.rtxNext, c.sndNxt)
	}
	if len(c.sndBuf) > c.cfg.SendBuffer {
		fail("send buffer %d over %d", len(c.sndBuf), c.cfg.SendBuffer)
	}
	for _, s := range out.Segments {
		if len(s.Payload) > 0 && c.sendMSS > 0 && len(s.Payload) > c.sendMSS {
			fail("segment of %d bytes over MSS %d", len(s.Payload), c.sendMSS)
		}
	}
}
