package timeline

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/decode"
)

// TestCapturedHeadersDecodedOnce: a frame handed over in the capture's buffer with
// the headers its capture decoded there reads the same as the frame decoded here; the
// timeline keeps copies of the bytes and the line, and the headers are over its copy,
// not over the buffer the capture goes on to reuse.
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
			line := []byte("the summary")
			tl := New(time.Unix(0, 0), []Endpoint{{"a", "eth0", -1}})
			f := tl.AddFrame(Captured{Data: buf, Line: line, Headers: h})
			clear(buf) // the capture reads its next frame there
			copy(line, "XXXXXXXXXXX")
			want := Decode(frame)
			got := f.Packet
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b decode.Headers) bool { return true }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("fields (-decoded here +decoded by the capture):\n%s", diff)
			}
			if diff := cmp.Diff(want.OptText(), got.OptText()); diff != "" {
				t.Errorf("option texts (-decoded here +decoded by the capture):\n%s", diff)
			}
			if !bytes.Equal(f.Data, frame) || f.Line != "the summary" {
				t.Errorf("kept %x and %q, want %x and the line handed over", f.Data, f.Line, frame)
			}
			if k := got.Headers.Frame(); &k[0] != &f.Data[0] {
				t.Errorf("the headers are not over the kept copy")
			}
			if tcp := got.Headers.TCP(); tcp != nil && tcp.SrcPort() != uint16(got.SPort) {
				t.Errorf("TCP view reads port %d after the buffer was cleared, want %d", tcp.SrcPort(), got.SPort)
			}
		})
	}
}
