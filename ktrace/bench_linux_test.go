package ktrace_test

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
)

// BenchmarkBulk is kernel → kernel TCP throughput over a veth, untraced, then with
// every tracepoint attached and both nodes subscribed (traced), then with
// tcp:tcp_probe too (traced+cwnd: an event per ACK the sender receives). With
// -count N the three alternate, N rounds. bench/ktrace.sh prints the ratios.
func BenchmarkBulk(b *testing.B) {
	lab := labtest.Start(b, twoHosts)
	srv := netip.MustParseAddrPort("198.18.0.2:7300")
	var ln net.Listener
	if err := lab.Node("b").Do(func() (err error) { ln, err = net.Listen("tcp", srv.String()); return }); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, s); s.Close() }()
		}
	}()
	chunk := make([]byte, 256<<10)
	bulk := func(b *testing.B) {
		c, err := dial(lab.Node("a"), netip.AddrPort{}, srv)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(int64(len(chunk)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
	}
	traced := func(opts *ktrace.Options) func(b *testing.B) {
		return func(b *testing.B) {
			tr, err := ktrace.Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			for _, n := range lab.Nodes() {
				s, err := tr.SubscribeNode(n)
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					for range s.Events() {
					}
				}()
			}
			bulk(b)
			b.StopTimer()
			if st := tr.Stats(); st.Lost != 0 {
				b.Errorf("%d events lost", st.Lost)
			} else {
				b.ReportMetric(float64(st.Emitted)/float64(b.N), "events/op")
			}
		}
	}
	b.Run("untraced", bulk)
	b.Run("traced", traced(nil))
	b.Run("traced+cwnd", traced(&ktrace.Options{Congestion: true}))
}
