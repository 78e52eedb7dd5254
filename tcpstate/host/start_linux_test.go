package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/tcpstate/clock"
	"github.com/pktlab/pktlab/testlab"
)

// nodeTables lists the nftables tables in node n.
func nodeTables(t *testing.T, n *testlab.Node) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(n.NetNSFd()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseLasting()
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	return names
}

// hasHostTable reports whether a shared-mode host's table is among tables.
func hasHostTable(tables []string) bool {
	return slices.ContainsFunc(tables, func(n string) bool { return strings.HasPrefix(n, tablePrefix) })
}

// TestStartNilConfigIsZeroConfig: a nil Config is the zero Config, the documented
// default: own-address mode with addresses and MAC derived from the node's (node
// 198.18.1.1 gives 198.18.1.101 and 2001:db8:1::101), and no firewall table.
func TestStartNilConfigIsZeroConfig(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	us := lab.Node("us")
	want := []netip.Prefix{netip.MustParsePrefix("198.18.1.101/24"), netip.MustParsePrefix("2001:db8:1::101/64")}
	for name, cfg := range map[string]*Config{"nil": nil, "zero": {}} {
		h, err := Start(context.Background(), us, cfg)
		if err != nil {
			t.Fatalf("%s Config: %v", name, err)
		}
		if got := h.Addrs(); !slices.Equal(got, want) || h.MAC().String() != "02:70:6b:12:01:65" {
			t.Errorf("%s Config: addresses %v, MAC %v; want %v, 02:70:6b:12:01:65", name, got, h.MAC(), want)
		}
		if tables := nodeTables(t, us); hasHostTable(tables) {
			t.Errorf("%s Config: tables %v in the node: that is shared mode", name, tables)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStartHonoursContext: a Start whose context has ended fails with the
// context's error and leaves nothing: no firewall table, no hold on the addresses.
func TestStartHonoursContext(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	us := lab.Node("us")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cfg := range []Config{{Shared: true}, {Addrs: usAddrs}} {
		if h, err := Start(ctx, us, &cfg); !errors.Is(err, context.Canceled) {
			if h != nil {
				h.Close()
			}
			t.Errorf("Start(%+v) with a cancelled context: %v, want context.Canceled", cfg, err)
		}
	}
	if tables := nodeTables(t, us); hasHostTable(tables) {
		t.Errorf("tables %v after the cancelled Start: a shared host's table left behind", tables)
	}
	h, err := Start(context.Background(), us, &Config{Addrs: usAddrs})
	if err != nil {
		t.Fatalf("the addresses are still held after the cancelled Start: %v", err)
	}
	h.Close()
}

// TestOwnAddressDefaultsAndClashes: hosts on two nodes of one subnet get two
// addresses and two MACs; a second host on a node takes the next free address; an
// address or MAC that a kernel or another host of the lab has is refused with
// ErrAddrInUse, naming who has it; closing gives it back.
func TestOwnAddressDefaultsAndClashes(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	us, kern := lab.Node("us"), lab.Node("kern")
	start := func(n *testlab.Node, cfg *Config) (*Host, error) {
		h, err := Start(context.Background(), n, cfg)
		if err == nil {
			t.Cleanup(func() { h.Close() })
		}
		return h, err
	}
	h1, err := start(us, nil)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := start(kern, nil)
	if err != nil {
		t.Fatal(err)
	}
	h3, err := start(us, nil)
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := h1.Addr(false)
	a2, _ := h2.Addr(false)
	a3, _ := h3.Addr(false)
	if a1.String() != "198.18.1.101" || a2.String() != "198.18.1.102" || a3.String() != "198.18.1.103" {
		t.Errorf("default addresses us %v, kern %v, us again %v; want .101, .102, .103 (.102 is taken)", a1, a2, a3)
	}
	if macs := []string{h1.MAC().String(), h2.MAC().String(), h3.MAC().String()}; macs[0] == macs[1] || macs[1] == macs[2] || macs[0] == macs[2] {
		t.Errorf("MACs %v: want three", macs)
	}
	kernMAC := kern.Interfaces()[0].MAC
	clashes := []struct {
		name string
		cfg  Config
		want string
	}{
		{"a kernel's address", Config{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.2/24")}}, "198.18.1.2: node kern's kernel (eth0) has it"},
		{"another host's address", Config{Addrs: []netip.Prefix{netip.PrefixFrom(a2, 24)}}, fmt.Sprintf("198.18.1.102: another userspace host (pid %d", os.Getpid())},
		{"a kernel's MAC", Config{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.50/24")}, MAC: kernMAC}, "MAC " + kernMAC.String() + ": node kern's kernel (eth0) has it"},
		{"another host's MAC", Config{Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.51/24")}, MAC: h1.MAC()}, "MAC " + h1.MAC().String() + ": another userspace host"},
	}
	for _, c := range clashes {
		h, err := start(kern, &c.cfg)
		if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), c.want) {
			if h != nil {
				h.Close()
			}
			t.Errorf("%s: %v; want ErrAddrInUse saying %q", c.name, err, c.want)
		}
	}
	h2.Close()
	if _, err := start(us, &Config{Addrs: []netip.Prefix{netip.PrefixFrom(a2, 24)}}); err != nil {
		t.Errorf("%v after its host closed: %v", a2, err)
	}
}

// TestManualClockRetransmitsUnsentSYN: on a manual clock the retransmission timer
// runs when the test moves time, at exactly RFC 6298's times (1 s, then 3 s), and
// a SYN that never left (nobody answers the ARP requests for its next hop) is never
// reported sent. The kernel is not involved in any of it.
func TestManualClockRetransmitsUnsentSYN(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	clk := clock.NewManual(t0)
	h, rec := startHost(t, lab.Node("us"), Config{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Dial(ctx, netip.MustParseAddrPort("198.18.1.77:80")) // no such neighbour
	timeouts := func(evs []Event) []time.Time {
		var at []time.Time
		for _, e := range evs {
			if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventTimerFired && strings.HasPrefix(e.TCP.Cause, "retransmission timeout") {
				at = append(at, e.Time)
			}
		}
		return at
	}
	arps := func(evs []Event) int {
		n := 0
		for _, e := range evs {
			if e.Kind == EventNeighbor && strings.HasPrefix(e.Text, "ARP request: who has 198.18.1.77?") {
				n++
			}
		}
		return n
	}
	rec.waitFor(t, "the first ARP request", func(evs []Event) bool { return arps(evs) == 1 })
	clk.Set(t0.Add(time.Second))
	// The timeout is reported before the SYN is queued again and its ARP request
	// goes, stamped with the clock's time then: move the clock on only after it, or
	// the next request falls in the same 200 ms and is not sent.
	rec.waitFor(t, "the first retransmission timeout and its ARP request", func(evs []Event) bool { return len(timeouts(evs)) == 1 && arps(evs) == 2 })
	clk.Set(t0.Add(3 * time.Second))
	evs := rec.waitFor(t, "the second retransmission timeout", func(evs []Event) bool { return len(timeouts(evs)) == 2 && arps(evs) == 3 })
	if got := timeouts(evs); !got[0].Equal(t0.Add(time.Second)) || !got[1].Equal(t0.Add(3*time.Second)) {
		t.Errorf("timeouts at %v, want t0+1s and t0+3s", got)
	}
	if out := rec.segments(true); len(out) != 0 {
		t.Errorf("%d segments reported sent, want none: none left, for want of the next hop's MAC", len(out))
	}
}

// dialHoldingSYN connects a host on clk to a kernel listener, running hold in
// BeforeSend when the first SYN is about to go, and returns the host's events.
func dialHoldingSYN(t *testing.T, clk clock.Clock, hold func()) []Event {
	t.Helper()
	lab := labtest.Start(t, twoNodes)
	held := false
	h, rec := startHost(t, lab.Node("us"), Config{Clock: clk, BeforeSend: func(e Event) error {
		if !held && e.TCP.Segment.Flags == header.TCPFlagSYN {
			held = true
			hold()
		}
		return nil
	}})
	kernelListen(t, lab.Node("kern"), "198.18.1.2:8080")
	c, err := h.Dial(ctxT(t, waitLimit), netip.MustParseAddrPort("198.18.1.2:8080"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return rec.events()
}

// sentSYNs returns the SYN sent events.
func sentSYNs(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventSegmentSent && e.TCP.Segment.Flags == header.TCPFlagSYN {
			out = append(out, e)
		}
	}
	return out
}

// TestSentFrameStampedWhenItLeaves: a frame's sent event carries the time it left,
// not the time the machine produced it: here BeforeSend holds the SYN while 5 s
// pass on the host's clock.
func TestSentFrameStampedWhenItLeaves(t *testing.T) {
	clk := clock.NewManual(t0)
	evs := dialHoldingSYN(t, clk, func() { clk.Advance(5 * time.Second) })
	syns := sentSYNs(evs)
	if len(syns) == 0 {
		t.Fatalf("no SYN sent event:\n%s", eventList(evs))
	}
	if want := t0.Add(5 * time.Second); !syns[0].Time.Equal(want) || !syns[0].TCP.Time.Equal(want) {
		t.Errorf("SYN stamped %v (TCP %v), want %v: when it left", syns[0].Time, syns[0].TCP.Time, want)
	}
}

// TestPausedClockFreezesTimers: with a Pausable clock paused while BeforeSend
// holds the SYN (as pktlab tcp --step does at its prompt), however long the hold,
// no retransmission follows and the SYN is stamped at the instant of the pause.
func TestPausedClockFreezesTimers(t *testing.T) {
	base := clock.NewManual(t0)
	clk := clock.NewPausable(base)
	evs := dialHoldingSYN(t, clk, func() {
		clk.Pause()
		base.Advance(time.Minute) // the user at the prompt
		clk.Resume()
	})
	for _, e := range evs {
		if e.Kind == EventTCP && e.TCP.Kind == tcpstate.EventTimerFired {
			t.Errorf("timer fired after the pause: %v", e)
		}
	}
	syns := sentSYNs(evs)
	if len(syns) != 1 || !syns[0].Time.Equal(t0) {
		t.Errorf("SYNs sent %v, want one at t0: the pause is not the connection's time", syns)
	}
}

// TestDeadlineOnManualClock: a Conn's read deadline passes when the host's clock
// reaches it, not before, however long that takes in real time.
func TestDeadlineOnManualClock(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	clk := clock.NewManual(t0)
	h, _ := startHost(t, lab.Node("us"), Config{Clock: clk})
	us, _ := pair(t, h, lab.Node("kern"), kern4, us4, true, nil)
	us.SetReadDeadline(clk.Now().Add(3 * time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := us.Read(make([]byte, 1))
		done <- err
	}()
	clk.Advance(2999 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("read returned %v before the deadline", err)
	default:
	}
	clk.Advance(time.Millisecond)
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read: %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read error %v is no net.Error timeout", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("read still blocked after the deadline")
	}
}
