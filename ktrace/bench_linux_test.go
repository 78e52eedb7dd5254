package ktrace_test

import (
	"cmp"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
)

// BenchmarkBulk is kernel → kernel TCP throughput over a veth, untraced, then with
// every tracepoint attached and both nodes subscribed (traced), then with
// tcp:tcp_probe too (traced+cwnd: an event per ACK the sender receives).
// bench/ktrace.sh runs it in rounds, in a rotating order, and prints the ratios.
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
		cpu0 := processCPU(b)
		for range b.N {
			if _, err := c.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		// CPU time of the whole process per chunk: the sender, the receiver, the
		// softirq work done on their threads, the programs (they run on the thread
		// that hits the tracepoint) and ktrace's reader. Unlike MB/s it does not
		// count the time other processes of a loaded machine take.
		b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
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
	runs := map[string]func(*testing.B){"untraced": bulk, "traced": traced(nil), "traced+cwnd": traced(&ktrace.Options{Congestion: true})}
	// A first round that counts for nothing: the first connection of a process is
	// slower (page faults, goroutine stacks, TCP autotuning from scratch).
	b.Run("warmup", bulk)
	// bench/ktrace.sh rotates the order from round to round.
	order := strings.Split(cmp.Or(os.Getenv("PKTLAB_BENCH_ORDER"), "untraced,traced,traced+cwnd"), ",")
	for _, name := range order {
		if runs[name] == nil {
			b.Fatalf("PKTLAB_BENCH_ORDER: no run %q", name)
		}
		b.Run(name, runs[name])
	}
}

// processCPU is the user and system time this process has used, in ns.
func processCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
