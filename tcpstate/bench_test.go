package tcpstate

import (
	"testing"
	"time"
)

// BenchmarkMachineBulk measures the pure machine: 64 KB written and acknowledged
// per op over the in-memory link (no copies on the link but the test's own).
func BenchmarkMachineBulk(b *testing.B) {
	l := newLink(b, nil, nil)
	l.handshake()
	buf := make([]byte, 64<<10)
	rd := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p := buf
		for len(p) > 0 {
			n, out, _ := l.a.Write(l.now, p)
			p = p[n:]
			l.take(l.a, out)
			l.deliver()
			for l.b.Readable() > 0 {
				_, out := l.b.Read(l.now, rd)
				l.take(l.b, out)
				l.deliver()
			}
			if n == 0 {
				l.advance(l.now.Add(time.Second))
			}
		}
		l.sent = map[*Conn][]Segment{}
		l.events = map[*Conn][]Event{}
	}
}
