package timeline

import (
	"net/netip"
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

// TestChatter: MLD reports, solicitations to a multicast group and link-local IPv6
// are chatter, and so is the kernel's drop of one; ARP, a global neighbour
// advertisement and TCP are not.
func TestChatter(t *testing.T) {
	ll, global := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::1")
	mld, solicited := netip.MustParseAddr("ff02::16"), netip.MustParseAddr("ff02::1:ff00:2")
	frame := func(proto string, src, dst netip.Addr, icmp int) Event {
		return Event{Data: &Frame{Packet: Packet{Proto: proto, Src: src, Dst: dst, ICMPType: icmp}}}
	}
	for _, c := range []struct {
		e    Event
		want bool
	}{
		{frame("icmp6", ll, mld, 143), true},
		{frame("icmp6", global, solicited, 135), true},
		{frame("icmp6", netip.IPv6Unspecified(), solicited, 135), true},
		{frame("ip6", ll, mld, 0), true},
		{Event{Data: &Drop{Reason: "NOT_SPECIFIED", Packet: &KernelPacket{Src: ll, Dst: mld}}}, true},
		{frame("icmp6", global, global, 136), false},
		{frame("arp", netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.1"), 0), false},
		{frame("tcp", global, global, 0), false},
		{Event{Data: &Drop{Reason: "NETFILTER_DROP", Packet: &KernelPacket{Src: global, Dst: global}}}, false},
	} {
		if got := Chatter(c.e); got != c.want {
			t.Errorf("Chatter(%s) = %v, want %v", (&Timeline{}).Text(c.e), got, c.want)
		}
	}
}
