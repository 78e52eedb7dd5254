package timeline

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/decode"
)

// TestCapturedHeadersDecodedOnce: a frame handed over with the headers its capture
// decoded (in the capture's buffer, carried to the kept copy with Headers.On) reads
// the same as the frame decoded here, and its views are over the copy, not the
// buffer the capture goes on to reuse.
func TestCapturedHeadersDecodedOnce(t *testing.T) {
	frames := map[string][]byte{
		"SYN with options": tcpFrame(t, true, 1000, 0, "S", 0, rawsock.OptMSS(1460), rawsock.OptSACKPermitted(), rawsock.OptTimestamps(7, 0), rawsock.OptWScale(7)),
		"data":             tcpFrame(t, false, 5000, 1001, "P.", 100),
		"short":            tcpFrame(t, true, 1, 1, ".", 0)[:40],
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			buf := bytes.Clone(frame) // the capture's read buffer
			var h decode.Headers
			h.Decode(layers.LinkTypeEthernet, buf)
			kept := bytes.Clone(buf)
			got := decodeCaptured(&Captured{Data: kept, Headers: h.On(kept)})
			clear(buf) // the capture reads its next frame there
			want := Decode(frame)
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b decode.Headers) bool { return true }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("fields (-decoded here +decoded by the capture):\n%s", diff)
			}
			if f := got.Headers.Frame(); &f[0] != &kept[0] {
				t.Errorf("the headers are not over the kept copy")
			}
			if tcp := got.Headers.TCP(); tcp != nil && tcp.SrcPort() != uint16(got.SPort) {
				t.Errorf("TCP view reads port %d after the buffer was cleared, want %d", tcp.SrcPort(), got.SPort)
			}
		})
	}
}
