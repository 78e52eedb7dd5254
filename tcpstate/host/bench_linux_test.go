package host

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/testlab"
)

// Benchmarks compare the userspace TCP with the kernel's on the same veth link
// (MTU 1500): bench/tcp.sh runs them and prints the ratios. The kernel server is in
// node kern; the kernel client is in node us, where the userspace host also runs.

func benchLab(b *testing.B, offloads bool) *testlab.Lab {
	lab := labtest.Start(b, twoNodes)
	if !offloads {
		for _, n := range []string{"us", "kern"} {
			if out, err := lab.Node(n).Exec(context.Background(), "ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off"); err != nil {
				b.Fatalf("ethtool in %s: %v: %s", n, err, out)
			}
		}
	}
	return lab
}

// sink accepts kernel connections and reads them to the end.
func sink(b *testing.B, n *testlab.Node, addr string) net.Listener {
	var ln net.Listener
	if err := n.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln
}

func BenchmarkHandshakeUserspace(b *testing.B) {
	lab := benchLab(b, true)
	sink(b, lab.Node("kern"), "198.18.1.2:8080")
	h, err := Start(context.Background(), lab.Node("us"), &Config{Addrs: usAddrs, TCP: tcpstate.Config{TimeWait: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	dst := netip.MustParseAddrPort("198.18.1.2:8080")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := h.Dial(context.Background(), dst) // SYN sent → ESTABLISHED
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.SetLinger(0)
		c.Close()
		b.StartTimer()
	}
}

func BenchmarkHandshakeKernel(b *testing.B) {
	lab := benchLab(b, true)
	sink(b, lab.Node("kern"), "198.18.1.2:8080")
	b.ReportAllocs()
	// The whole loop runs on one thread inside node us, so no namespace switch is
	// timed; net.Dial returns when connect(2) completes: SYN sent → ESTABLISHED.
	err := lab.Node("us").Do(func() error {
		b.ResetTimer()
		for range b.N {
			c, err := net.Dial("tcp", "198.18.1.2:8080")
			if err != nil {
				return err
			}
			b.StopTimer()
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			b.StartTimer()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

const bulkChunk = 64 << 10

func benchBulk(b *testing.B, offloads, userspace bool) {
	lab := benchLab(b, offloads)
	sink(b, lab.Node("kern"), "198.18.1.2:8080")
	var c net.Conn
	if userspace {
		h, err := Start(context.Background(), lab.Node("us"), &Config{Addrs: usAddrs})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		uc, err := h.Dial(context.Background(), netip.MustParseAddrPort("198.18.1.2:8080"))
		if err != nil {
			b.Fatal(err)
		}
		c = uc
	} else {
		lab.Node("us").Do(func() (err error) { c, err = net.Dial("tcp", "198.18.1.2:8080"); return })
	}
	defer c.Close()
	buf := make([]byte, bulkChunk)
	b.SetBytes(bulkChunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	// Count only what was acknowledged: wait for the send buffer to drain.
	if uc, ok := c.(*Conn); ok {
		for {
			var left int
			uc.Machine(func(m *tcpstate.Conn) { left = m.Unacknowledged() })
			if left == 0 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		b.StopTimer()
		uc.Machine(func(m *tcpstate.Conn) { b.Logf("N=%d stats %+v info %+v", b.N, m.Stats(), m.Info()) })
	}
}

func BenchmarkBulkUserspaceOffloadsOn(b *testing.B)  { benchBulk(b, true, true) }
func BenchmarkBulkKernelOffloadsOn(b *testing.B)     { benchBulk(b, true, false) }
func BenchmarkBulkUserspaceOffloadsOff(b *testing.B) { benchBulk(b, false, true) }
func BenchmarkBulkKernelOffloadsOff(b *testing.B)    { benchBulk(b, false, false) }

// Connections per second: open, one byte, close, for the full round.
func BenchmarkConnsUserspace(b *testing.B) {
	lab := benchLab(b, true)
	sink(b, lab.Node("kern"), "198.18.1.2:8080")
	h, err := Start(context.Background(), lab.Node("us"), &Config{Addrs: usAddrs, TCP: tcpstate.Config{TimeWait: 100 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	dst := netip.MustParseAddrPort("198.18.1.2:8080")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := h.Dial(context.Background(), dst)
		if err != nil {
			b.Fatal(err)
		}
		c.Write([]byte{1})
		c.Close()
		for st := c.State(); st != tcpstate.TimeWait && st != tcpstate.Closed; st = c.State() {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

func BenchmarkConnsKernel(b *testing.B) {
	lab := benchLab(b, true)
	sink(b, lab.Node("kern"), "198.18.1.2:8080")
	// Tens of thousands of closes leave as many TIME_WAIT sockets on the client
	// (the active closer); reuse them rather than run out of ephemeral ports.
	if err := lab.Node("us").SetSysctl("net.ipv4.tcp_tw_reuse", "1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	err := lab.Node("us").Do(func() error {
		b.ResetTimer()
		for range b.N {
			c, err := net.Dial("tcp", "198.18.1.2:8080")
			if err != nil {
				return err
			}
			c.Write([]byte{1})
			c.(*net.TCPConn).CloseWrite()
			c.Read(make([]byte, 1)) // wait for the server's FIN
			c.Close()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
