package host

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
)

func TestFrameRoundTrip(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, tc := range []struct {
		name          string
		local, remote netip.AddrPort
		seg           tcpstate.Segment
	}{
		{"v4 SYN", netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:80"),
			tcpstate.Segment{Seq: 1, Flags: header.TCPFlagSYN, Window: 65535, Options: tcpstate.Options{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 7, HasWScale: true, WScale: 7}}},
		{"v6 data with SACK", netip.MustParseAddrPort("[2001:db8::1]:1000"), netip.MustParseAddrPort("[2001:db8::2]:80"),
			tcpstate.Segment{Seq: 100, Ack: 200, Flags: header.TCPFlagACK | header.TCPFlagPSH, Window: 500, Payload: []byte("hello"),
				Options: tcpstate.Options{HasTS: true, TSVal: 1, TSEcr: 2, NumSACK: 2, SACK: [4]tcpstate.SACKBlock{{Left: 300, Right: 400}, {Left: 500, Right: 600}}}}},
		{"v4 RST no options", netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.2:80"),
			tcpstate.Segment{Seq: 5, Flags: header.TCPFlagRST}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSerializer()
			frame, err := s.tcpFrame(mac, mac, tc.local, tc.remote, &tc.seg)
			if err != nil {
				t.Fatal(err)
			}
			d := rawsock.NewDecoder(layers.LinkTypeEthernet)
			if err := d.Decode(frame); err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := segmentOf(d.TCP())
			if len(got.Payload) == 0 {
				got.Payload = nil
			}
			if diff := cmp.Diff(tc.seg, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if !d.TCP().Flags().Has(header.TCPFlagACK) && tc.seg.Flags&header.TCPFlagACK != 0 {
				t.Errorf("ACK lost")
			}
		})
	}
}
