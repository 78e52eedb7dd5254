//go:build linux

package rawsock_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
)

var (
	addrA  = netip.MustParseAddr("198.18.1.1")
	addrB  = netip.MustParseAddr("198.18.1.2")
	addrA6 = netip.MustParseAddr("2001:db8:1::1")
	addrB6 = netip.MustParseAddr("2001:db8:1::2")
)

// echoes returns the ICMPv4 echo frames among frames, decoded from the given first
// layer.
func echoes(frames []rawsock.Frame, first gopacket.Decoder) []gopacket.Packet {
	var out []gopacket.Packet
	for _, f := range frames {
		p := gopacket.NewPacket(f.Data, first, gopacket.Default)
		if l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && l.TypeCode.Type() == layers.ICMPv4TypeEchoRequest {
			out = append(out, p)
		}
	}
	return out
}

// TestA1RawAndCooked is experiment A1: the same ping captured on a SOCK_RAW and a
// SOCK_DGRAM socket; the raw frame is the cooked one plus the 14-byte Ethernet header.
func TestA1RawAndCooked(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	raw := open(t, lab, "b", "eth0", nil)
	cooked := open(t, lab, "b", "eth0", &rawsock.Config{Cooked: true})
	ping(t, lab.Node("a"), addrB, 1)
	// Both sockets are read up to the echo reply b sent: the request came before it.
	rawFrames := echoes(readUntil(t, raw, "the echo reply", has(func(b []byte) bool { return isEcho(b, icmpEchoReply, 1) })), layers.LayerTypeEthernet)
	cookedFrames := echoes(readUntil(t, cooked, "the echo reply", has(func(b []byte) bool {
		return len(b) >= 28 && b[9] == 1 && b[20] == icmpEchoReply && int(b[26])<<8|int(b[27]) == 1
	})), layers.LayerTypeIPv4)
	if len(rawFrames) != 1 || len(cookedFrames) != 1 {
		t.Fatalf("echo requests: raw %d, cooked %d; want 1 each", len(rawFrames), len(cookedFrames))
	}
	r, c := rawFrames[0].Data(), cookedFrames[0].Data()
	if len(r) != len(c)+14 {
		t.Errorf("raw frame %d bytes, cooked %d: want raw = cooked + 14", len(r), len(c))
	}
	if string(r[14:]) != string(c) {
		t.Errorf("raw frame after the Ethernet header differs from the cooked frame\nraw    % x\ncooked % x", r[14:], c)
	}
	if r[12] != 0x08 || r[13] != 0x00 {
		t.Errorf("raw frame EtherType % x, want 08 00", r[12:14])
	}
}

// TestA2ProtocolSelects is experiment A2: four sockets with ETH_P_ALL, ETH_P_IP,
// ETH_P_ARP and ETH_P_IPV6 watch the same mixed traffic; each holds only its kind.
// Only ETH_P_ALL sockets also see the node's own outgoing frames: the kernel hands
// transmitted frames to the ptype_all taps alone (dev_queue_xmit_nit in
// net/core/dev.c), so a protocol socket sees exactly the incoming frames of its kind.
func TestA2ProtocolSelects(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	socks := map[rawsock.Protocol]*rawsock.Conn{}
	for _, p := range []rawsock.Protocol{rawsock.ProtoAll, rawsock.ProtoIPv4, rawsock.ProtoARP, rawsock.ProtoIPv6} {
		socks[p] = open(t, lab, "b", "eth0", &rawsock.Config{Protocol: p})
	}
	ping(t, lab.Node("a"), addrB, 1)  // ARP, then IPv4
	ping(t, lab.Node("a"), addrB6, 1) // neighbour discovery and echo, IPv6
	// Spontaneous IPv6 traffic (MLD, router solicitations) may arrive at any time, so
	// each socket is compared up to a fence of its EtherType that a sends once b has
	// received both echo requests: a frame of that type reaches the ETH_P_ALL socket
	// before the fence exactly when it reaches the protocol socket before it.
	tx := open(t, lab, "a", "eth0", &rawsock.Config{Protocol: 0x88b5})
	all := readUntil(t, socks[rawsock.ProtoAll], "both echo requests", func(fs []rawsock.Frame) bool {
		return has(func(b []byte) bool { return isEcho(b, icmpEchoRequest, 1) })(fs) && has(isEcho6Request)(fs)
	})
	fenced := map[rawsock.Protocol][]rawsock.Frame{}
	cut := map[layers.EthernetType]int{} // the ETH_P_ALL frames before each type's fence
	for _, et := range []layers.EthernetType{layers.EthernetTypeARP, layers.EthernetTypeIPv4, layers.EthernetTypeIPv6} {
		tag := sendFence(t, tx, et)
		fenced[rawsock.Protocol(et)] = toFence(t, socks[rawsock.Protocol(et)], tag)
		all = append(all, toFence(t, socks[rawsock.ProtoAll], tag)...)
		cut[et] = len(all)
	}
	fenced[rawsock.ProtoAll] = all
	count := map[rawsock.Protocol]map[layers.EthernetType]int{}
	for p, frames := range fenced {
		count[p] = map[layers.EthernetType]int{}
		for i, f := range frames {
			et := layers.EthernetType(uint16(f.Data[12])<<8 | uint16(f.Data[13]))
			if f.Type == rawsock.PacketOutgoing {
				if p != rawsock.ProtoAll {
					t.Errorf("%v socket saw an outgoing %v frame", p, et)
				}
				continue
			}
			if p == rawsock.ProtoAll && i >= cut[et] {
				continue // after this type's fence
			}
			count[p][et]++
			if f.Protocol != rawsock.Protocol(et) {
				t.Errorf("%v socket: frame EtherType %v but sll_protocol %v", p, et, f.Protocol)
			}
		}
	}
	seen := count[rawsock.ProtoAll]
	for _, et := range []layers.EthernetType{layers.EthernetTypeARP, layers.EthernetTypeIPv4, layers.EthernetTypeIPv6} {
		if seen[et] == 0 {
			t.Errorf("ETH_P_ALL socket saw no incoming %v frames: %v", et, seen)
		}
		p := rawsock.Protocol(et)
		if len(count[p]) != 1 || count[p][et] != seen[et] {
			t.Errorf("%v socket saw %v, want only the %d incoming %v frames ETH_P_ALL saw", p, count[p], seen[et], et)
		}
	}
}

// TestA4BoundProtocol is experiment A4 in a lab: the bound socket's sll_protocol is
// htons(ETH_P_ALL) (768 on little-endian), and a socket(2) given the host-order value
// 3 selects EtherType 0x0300 and sees nothing of a ping the correct one sees.
func TestA4BoundProtocol(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	c := open(t, lab, "b", "eth0", nil)
	got, err := c.BoundProtocol()
	if err != nil {
		t.Fatal(err)
	}
	if want := rawsock.ProtoAll.Network(); got != want {
		t.Errorf("sll_protocol = %d, want %d (htons(ETH_P_ALL))", got, want)
	}
	right := rawSocket(t, lab.Node("b"), int(rawsock.ProtoAll.Network()))
	wrong := rawSocket(t, lab.Node("b"), int(rawsock.ProtoAll))
	ping(t, lab.Node("a"), addrB, 1)
	if n := recvUntil(t, right, func(b []byte) bool { return isEcho(b, icmpEchoReply, 1) }); n == 0 {
		t.Errorf("socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)=%d) saw no frames", rawsock.ProtoAll.Network())
	}
	// No fence reaches wrong (EtherType 0x0300 is an 802.3 length, so no Ethernet
	// frame ever has that protocol); but b sent its echo reply while it handled the
	// request, after every tap had it, so by now a frame for wrong is queued or none is.
	if n := drain(t, wrong); n != 0 && rawsock.ProtoAll.Network() != uint16(rawsock.ProtoAll) {
		t.Errorf("socket(AF_PACKET, SOCK_RAW, 3) saw %d frames, want 0 (it selects EtherType 0x0300)", n)
	}
}

// TestSocketErrors checks that errors name the node and interface and unwrap.
func TestSocketErrors(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	_, err := rawsock.Open(lab.Node("a"), "nosuch0", nil)
	var re *rawsock.Error
	if !errors.As(err, &re) || re.Node != "a" || re.Iface != "nosuch0" {
		t.Fatalf("Open(nosuch0) = %v, want *rawsock.Error naming a:nosuch0", err)
	}
	c := open(t, lab, "a", "eth0", nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v, want the first call's nil", err)
	}
	if _, err := c.ReadFrame(context.Background(), make([]byte, 100)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close = %v, want net.ErrClosed", err)
	}
	// EtherType 0x88b5 (IEEE local experimental) is one nothing in the lab sends.
	c2 := open(t, lab, "a", "eth0", &rawsock.Config{Protocol: 0x88b5})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := c2.ReadFrame(ctx, make([]byte, 100)); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFrame with cancelled context = %v, want context.Canceled", err)
	}
}
