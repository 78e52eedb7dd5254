package decode_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/rawsock/decode"
)

// fastPathFrames are the Ethernet frames of the corpus, their TCP option variants,
// and copies of each IPv4 TCP frame changed where the shortcut decides whether it
// applies: a total length of 0, short or past the frame; fragment bits; IP options;
// a data offset too small or too large; ports whose registry names a protocol (DNS,
// TLS); no payload.
func fastPathFrames(tb testing.TB) [][]byte {
	eth, _, _ := refFrames(tb)
	var out [][]byte
	for _, f := range eth {
		out = append(out, f)
		out = append(out, tcpVariants(f)...)
		if len(f) < 54 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 6 {
			continue
		}
		edit := func(fn func(g []byte) []byte) {
			out = append(out, fn(bytes.Clone(f)))
		}
		edit(func(g []byte) []byte { binary.BigEndian.PutUint16(g[16:], 0); return g })
		edit(func(g []byte) []byte { binary.BigEndian.PutUint16(g[16:], 39); return g })
		edit(func(g []byte) []byte { binary.BigEndian.PutUint16(g[16:], uint16(len(g)-13)); return g })
		edit(func(g []byte) []byte { binary.BigEndian.PutUint16(g[16:], uint16(len(g)-15)); return g })
		edit(func(g []byte) []byte { g[20] |= 0x20; return g })             // more fragments
		edit(func(g []byte) []byte { g[21] = 1; return g })                 // offset 8
		edit(func(g []byte) []byte { g[20] |= 0x40; return g })             // DF only
		edit(func(g []byte) []byte { g[14] = 0x46; return g })              // IHL 6
		edit(func(g []byte) []byte { g[14] = 0x65; return g })              // version 6, IHL 5
		edit(func(g []byte) []byte { g[46] = 0x40 | g[46]&0x0f; return g }) // data offset 16
		edit(func(g []byte) []byte { g[46] = 0xf0 | g[46]&0x0f; return g }) // data offset 60
		edit(func(g []byte) []byte { binary.BigEndian.PutUint16(g[36:], 53); return g })
		edit(func(g []byte) []byte { binary.BigEndian.PutUint16(g[34:], 443); return g })
		if end := 14 + int(f[14]&0x0f)*4 + int(f[14+int(f[14]&0x0f)*4+12]>>4)*4; end <= len(f) {
			edit(func(g []byte) []byte { // the header alone
				binary.BigEndian.PutUint16(g[16:], uint16(end-14))
				return g[:end]
			})
		}
	}
	return out
}

// diffFastPath decodes frame with the shortcut and without it and describes how the
// two Headers or errors differ, "" when they do not.
func diffFastPath(frame []byte) string {
	var fast, slow decode.Headers
	errFast := fast.Decode(layers.LinkTypeEthernet, frame)
	old := decode.SetFastPath(false)
	errSlow := slow.Decode(layers.LinkTypeEthernet, frame)
	decode.SetFastPath(old)
	if (errFast == nil) != (errSlow == nil) || errFast != nil && errFast.Error() != errSlow.Error() {
		return "errors differ: fast " + errString(errFast) + ", general " + errString(errSlow)
	}
	if !reflect.DeepEqual(fast, slow) {
		return "headers differ: fast " + layerList(&fast) + ", general " + layerList(&slow)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

func layerList(h *decode.Headers) string {
	s := ""
	for _, t := range h.Layers() {
		s += t.String() + " "
	}
	return s
}

// TestFastPathMatches holds the Ethernet/IPv4/TCP shortcut to the general walk:
// the same Headers and the same error on every frame of fastPathFrames and every
// truncation of them.
func TestFastPathMatches(t *testing.T) {
	n := 0
	for i, f := range fastPathFrames(t) {
		for cut := len(f); cut >= 0; cut-- {
			if cut > 100 && cut < len(f)-1 {
				continue
			}
			n++
			if diff := diffFastPath(f[:cut]); diff != "" {
				t.Fatalf("frame %d cut to %d of %d bytes (% x): %s", i, cut, len(f), f[:cut], diff)
			}
		}
	}
	t.Logf("%d frames decoded alike", n)
}

// FuzzFastPathMatches is TestFastPathMatches on arbitrary frames.
func FuzzFastPathMatches(f *testing.F) {
	for _, fr := range fastPathFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if diff := diffFastPath(frame); diff != "" {
			t.Errorf("% x: %s", frame, diff)
		}
	})
}
