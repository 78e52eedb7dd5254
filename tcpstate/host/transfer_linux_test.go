package host

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/testlab"
)

// stream is a deterministic pseudo-random byte stream of n bytes.
func stream(n int64, seed int64) io.Reader {
	return io.LimitReader(rand.New(rand.NewSource(seed)), n)
}

func sum(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, n, err
}

// exchange sends size bytes each way between a and b at the same time and checks
// both SHA-256 sums. Each side half-closes after sending.
func exchange(t *testing.T, a, b net.Conn, size int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	send := func(c net.Conn, seed int64, errc chan<- error) {
		_, err := io.Copy(c, stream(size, seed))
		if err == nil {
			err = closeWrite(c)
		}
		errc <- err
	}
	recv := func(c net.Conn, out chan<- result) {
		s, n, err := sum(c)
		out <- result{s, n, err}
	}
	errA, errB := make(chan error, 1), make(chan error, 1)
	gotA, gotB := make(chan result, 1), make(chan result, 1)
	go send(a, 1, errA)
	go send(b, 2, errB)
	go recv(a, gotA)
	go recv(b, gotB)
	want1, _, _ := sum(stream(size, 1))
	want2, _, _ := sum(stream(size, 2))
	for _, e := range []chan error{errA, errB} {
		if err := <-e; err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	ra, rb := <-gotA, <-gotB
	if rb.err != nil || rb.n != size || rb.sum != want1 {
		t.Errorf("a→b: %d bytes, err %v, sha256 equal %v; want %d bytes", rb.n, rb.err, rb.sum == want1, size)
	}
	if ra.err != nil || ra.n != size || ra.sum != want2 {
		t.Errorf("b→a: %d bytes, err %v, sha256 equal %v; want %d bytes", ra.n, ra.err, ra.sum == want2, size)
	}
}

func closeWrite(c net.Conn) error {
	switch v := c.(type) {
	case *Conn:
		return v.CloseWrite()
	case *net.TCPConn:
		return v.CloseWrite()
	}
	return nil
}

// pair connects the userspace host and a kernel socket; usClient says who dials.
func pair(t *testing.T, h *Host, kern *testlab.Node, kernAddr, usAddr netip.Addr, usClient bool, cfg *tcpstate.Config) (us *Conn, k net.Conn) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	if usClient {
		ln := kernelListen(t, kern, netip.AddrPortFrom(kernAddr, 8080).String())
		acc := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			acc <- c
		}()
		c, err := h.DialWith(ctx, netip.AddrPortFrom(kernAddr, 8080), &DialOptions{TCP: cfg})
		if err != nil {
			t.Fatalf("userspace dial: %v", err)
		}
		k = <-acc
		if k == nil {
			t.Fatal("kernel accept failed")
		}
		t.Cleanup(func() { c.Close(); k.Close() })
		return c, k
	}
	ln, err := h.Listen(9090, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	k, err = kernelDial(ctx, kern, netip.AddrPortFrom(usAddr, 9090).String())
	if err != nil {
		t.Fatalf("kernel dial: %v", err)
	}
	us, err = ln.AcceptContext(ctx)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { us.Close(); k.Close() })
	return us, k
}

func TestLabBulk10MB(t *testing.T) {
	// 10 MB each way at once, SHA-256 equal, IPv4 and IPv6, userspace as client
	// and as server.
	lab := labtest.Start(t, twoNodes)
	for _, f := range families() {
		for _, usClient := range []bool{true, false} {
			name := f.name + "/kernel client"
			if usClient {
				name = f.name + "/userspace client"
			}
			t.Run(name, func(t *testing.T) {
				h, _ := startHost(t, lab.Node("us"), Config{})
				us, k := pair(t, h, lab.Node("kern"), f.kern, f.us, usClient, nil)
				start := time.Now()
				exchange(t, us, k, 10<<20, 60*time.Second)
				var st tcpstate.Stats
				us.Machine(func(m *tcpstate.Conn) { st = m.Stats() })
				t.Logf("20 MB in %v; userspace stats %+v", time.Since(start), st)
			})
		}
	}
	t.Run("ipv4/userspace client/no GSO", func(t *testing.T) {
		// One frame per segment, as the CLI's timeline shows them.
		h, rec := startHost(t, lab.Node("us"), Config{NoGSO: true})
		us, k := pair(t, h, lab.Node("kern"), kern4, us4, true, nil)
		exchange(t, us, k, 10<<20, 60*time.Second)
		var mss int
		us.Machine(func(m *tcpstate.Conn) { mss = m.SendMSS() })
		for _, s := range rec.segments(true) {
			if len(s.Payload) > mss {
				t.Fatalf("segment of %d bytes with GSO off (MSS %d)", len(s.Payload), mss)
			}
		}
	})
}

var _ = context.Background
