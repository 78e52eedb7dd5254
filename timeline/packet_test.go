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

// TestMSSAndWScale: the two options read as numbers are found wherever they stand,
// and a frame without them has -1, also when other options hold bytes of their kinds
// (a timestamp of 0x02030203).
func TestMSSAndWScale(t *testing.T) {
	cases := []struct {
		name        string
		opts        []layers.TCPOption
		mss, wscale int
	}{
		{"none", nil, -1, -1},
		{"data segment", []layers.TCPOption{rawsock.OptNOP(), rawsock.OptNOP(), rawsock.OptTimestamps(0x02030203, 3)}, -1, -1},
		{"SYN", []layers.TCPOption{rawsock.OptMSS(1460), rawsock.OptSACKPermitted(), rawsock.OptTimestamps(7, 0), rawsock.OptNOP(), rawsock.OptWScale(7)}, 1460, 7},
		{"after a timestamp", []layers.TCPOption{rawsock.OptTimestamps(2, 3), rawsock.OptMSS(536)}, 536, -1},
		{"window scale only", []layers.TCPOption{rawsock.OptNOP(), rawsock.OptWScale(14)}, -1, 14},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Decode(tcpFrame(t, true, 1, 0, "S", 0, c.opts...))
			if p.MSS != c.mss || p.WScale != c.wscale {
				t.Errorf("MSS %d, WScale %d; want %d, %d (options %v)", p.MSS, p.WScale, c.mss, c.wscale, p.OptText())
			}
		})
	}
}

// TestTwinsKeptOnce: the two copies of a frame on a link (its sender's end and its
// receiver's) are kept once: the second shares the first's bytes and fields, each
// with the line its own interface's summarizer wrote; a frame that is no twin (other
// bytes) has its own copy.
func TestTwinsKeptOnce(t *testing.T) {
	tl := New(time.Unix(0, 0), []Endpoint{{"a", "eth0", 1}, {"b", "eth0", 0}})
	syn := tcpFrame(t, true, 1000, 0, "S", 0, rawsock.OptMSS(1460))
	buf := bytes.Clone(syn) // one capture buffer, reused
	sent := tl.AddFrame(Captured{Time: time.Unix(1, 0), Index: 0, Data: buf, Out: true, Line: []byte("on a")})
	clear(buf)
	copy(buf, syn)
	recv := tl.AddFrame(Captured{Time: time.Unix(1, 1000), Index: 1, Data: buf, Line: []byte("on b")})
	other := tcpFrame(t, true, 2000, 0, "S", 0, rawsock.OptMSS(1460))
	third := tl.AddFrame(Captured{Time: time.Unix(2, 0), Index: 1, Data: other})
	clear(buf)
	if sent.pair != recv || !recv.Dup || sent.Dup {
		t.Fatalf("the copies did not pair: pair %p (want %p), dup %v %v", sent.pair, recv, sent.Dup, recv.Dup)
	}
	if &recv.Data[0] != &sent.Data[0] || !bytes.Equal(recv.Data, syn) {
		t.Errorf("the receiver's copy keeps bytes of its own (or the wrong ones)")
	}
	if sent.Line != "on a" || recv.Line != "on b" {
		t.Errorf("lines %q and %q, want each interface's own", sent.Line, recv.Line)
	}
	if recv.Packet.Seq != 1000 || recv.Packet.MSS != 1460 || recv.Packet.Headers.TCP().Seq() != 1000 {
		t.Errorf("the receiver's copy reads seq %d, mss %d", recv.Packet.Seq, recv.Packet.MSS)
	}
	if &third.Data[0] == &sent.Data[0] || third.Packet.Seq != 2000 {
		t.Errorf("a frame with other bytes shares its twin's (seq %d)", third.Packet.Seq)
	}
}
