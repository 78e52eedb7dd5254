//go:build linux

package rawsock_test

import (
	"context"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
)

// TestOpenIPThroughRouting sends crafted packets on raw IP sockets in the client:
// an IPv4 echo request with a 24-byte header (IHL 6: one option word, as in B4) and
// an IPv6 echo request. The kernel routes them via the router, so the server sees
// them with TTL / hop limit 63 and answers both.
func TestOpenIPThroughRouting(t *testing.T) {
	lab := labtest.Start(t, crsLab)
	srv := open(t, lab, "server", "eth0", nil)
	cli := open(t, lab, "client", "eth0", nil)
	v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: client4.AsSlice(), DstIP: server4.AsSlice(),
		Options: []layers.IPv4Option{rawsock.IPOptNOP(), rawsock.IPOptNOP(), rawsock.IPOptNOP(), {OptionType: 0, OptionLength: 1}}}
	p4, err := rawsock.Serialize(nil, v4, rawsock.ICMPEcho(false, 77, 1), gopacket.Payload("pktlab"))
	must(t, err)
	if p4[0]&0x0f != 6 {
		t.Fatalf("crafted IHL %d, want 6", p4[0]&0x0f)
	}
	v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: client6.AsSlice(), DstIP: server6.AsSlice()}
	p6, err := rawsock.Serialize(nil, v6, &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 77, SeqNumber: 1}, gopacket.Payload("pktlab"))
	must(t, err)
	for _, v := range []struct {
		v6  bool
		pkt []byte
	}{{false, p4}, {true, p6}} {
		c, err := rawsock.OpenIP(lab.Node("client"), v.v6)
		must(t, err)
		dst := server4
		if v.v6 {
			dst = server6
		}
		must(t, c.WritePacket(context.Background(), v.pkt, dst))
		must(t, c.Close())
		if err := c.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	}
	d := rawsock.NewDecoder(layers.LinkTypeEthernet)
	// kind names the echo of id 77 that b is, or returns "".
	kind := func(b []byte) string {
		if d.Decode(b) != nil {
			return ""
		}
		switch {
		case d.Has(layers.LayerTypeICMPv4) && d.ICMPv4().ID() == 77:
			if d.ICMPv4().Type() == header.ICMPv4EchoRequest {
				return "v4 request"
			}
			return "v4 reply"
		case d.Has(layers.LayerTypeICMPv6) && d.ICMPv6().ID() == 77:
			switch d.ICMPv6().Type() {
			case header.ICMPv6EchoRequest:
				return "v6 request"
			case header.ICMPv6EchoReply:
				return "v6 reply"
			}
		}
		return ""
	}
	got := map[string]int{}
	// Each side is read until it has seen both echoes meant for it: the server the two
	// requests, the client the two replies.
	for _, side := range []struct {
		c     *rawsock.Conn
		kinds [2]string
	}{{srv, [2]string{"v4 request", "v6 request"}}, {cli, [2]string{"v4 reply", "v6 reply"}}} {
		readUntil(t, side.c, side.kinds[0]+" and "+side.kinds[1], func(fs []rawsock.Frame) bool {
			if len(fs) > 0 && fs[len(fs)-1].Type != rawsock.PacketOutgoing {
				f := fs[len(fs)-1]
				if k := kind(f.Data); k == side.kinds[0] || k == side.kinds[1] {
					got[k]++
					if k == "v4 request" && (d.IPv4().TTL() != 63 || d.IPv4().HeaderLen() != 24) {
						t.Errorf("server got IPv4 echo with TTL %d header length %d, want 63 and 24", d.IPv4().TTL(), d.IPv4().HeaderLen())
					}
					if k == "v6 request" && d.IPv6().HopLimit() != 63 {
						t.Errorf("server got IPv6 echo with hop limit %d, want 63", d.IPv6().HopLimit())
					}
				}
			}
			return got[side.kinds[0]] > 0 && got[side.kinds[1]] > 0
		})
	}
	for _, k := range []string{"v4 request", "v4 reply", "v6 request", "v6 reply"} {
		if got[k] != 1 {
			t.Errorf("saw %d %s, want 1 (all: %v)", got[k], k, got)
		}
	}
}
