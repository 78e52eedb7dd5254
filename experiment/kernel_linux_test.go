package experiment_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
	"golang.org/x/sys/unix"
)

// statePath is the path of the kernel sockets of node whose remote is remote (local
// port any), from their first state on, with the event indexes in tl.Events().
func statePath(evs []timeline.Event, node, remote string) (path []string, idx []int, sources []string) {
	for i, e := range evs {
		st, ok := e.Data.(*timeline.KernelState)
		if !ok || e.Node != node || st.Remote.String() != remote {
			continue
		}
		if len(path) == 0 {
			path = append(path, st.From)
		}
		path = append(path, st.To)
		idx = append(idx, i)
		sources = append(sources, st.Source)
	}
	return path, idx, sources
}

// frameIndex is the index of the first frame on node's interface with the tcpdump
// flags given, sent (out) or received.
func frameIndex(evs []timeline.Event, node, flags string, out bool) int {
	for i, e := range evs {
		if f := e.Frame(); f != nil && e.Node == node && f.Out == out && f.Packet.Flags.String() == flags {
			return i
		}
	}
	return -1
}

// TestKernelStatesTraced: C1's handshake on the timeline comes from the tracepoints,
// with every state (SYN_SENT and SYN_RECV last microseconds), the client's local
// port filled in, and each change sorted right after the frame that caused it.
func TestKernelStatesTraced(t *testing.T) {
	privtest.Require(t)
	before := bpfObjects(t)
	res := runFile(t, "../examples/C1.yaml")
	if res.Polled != "" {
		t.Fatalf("kernel states were polled: %s", res.Polled)
	}
	// The run's tracer is closed: the process holds no BPF program, map or link of
	// it, so the kernel has freed them (nothing is pinned).
	if after := bpfObjects(t); after != before {
		t.Errorf("BPF objects held: %d before the run, %d after", before, after)
	}
	evs := res.Timeline.Events()
	cli, cliIdx, cliSrc := statePath(evs, "client", "198.18.1.1:80")
	if want := []string{"CLOSE", "SYN_SENT", "ESTABLISHED"}; len(cli) < 3 || !slices.Equal(cli[:3], want) {
		t.Fatalf("client path %v, want it to begin %v\n%s", cli, want, report(res))
	}
	for i, e := range cliIdx {
		st := evs[e].Data.(*timeline.KernelState)
		if st.Local.Port() == 0 || cliSrc[i] != ktrace.SourceTracepoint {
			t.Errorf("client state %d: %+v: want a local port and source %q", i, st, ktrace.SourceTracepoint)
		}
	}
	srv, srvIdx, _ := statePath(evs, "server", "198.18.1.2:"+fmt.Sprint(evs[cliIdx[0]].Data.(*timeline.KernelState).Local.Port()))
	if want := []string{"LISTEN", "SYN_RECV", "ESTABLISHED"}; len(srv) < 3 || !slices.Equal(srv[:3], want) {
		t.Fatalf("server child path %v, want it to begin %v\n%s", srv, want, report(res))
	}
	// Causes: the client's SYN_SENT precedes its SYN; its ESTABLISHED follows the
	// SYN-ACK it received and precedes its ACK. The server's child socket is made
	// from the request socket when that ACK arrives (tcp_check_req): LISTEN →
	// SYN_RECV → ESTABLISHED both follow the ACK.
	order := []struct {
		what          string
		before, after int
	}{
		{"client SYN_SENT < SYN out", cliIdx[0], frameIndex(evs, "client", "S", true)},
		{"client SYN-ACK in < ESTABLISHED", frameIndex(evs, "client", "S.", false), cliIdx[1]},
		{"client ESTABLISHED < ACK out", cliIdx[1], frameIndex(evs, "client", ".", true)},
		{"server ACK in < SYN_RECV", frameIndex(evs, "server", ".", false), srvIdx[0]},
		{"SYN_RECV < ESTABLISHED", srvIdx[0], srvIdx[1]},
	}
	for _, o := range order {
		if o.before < 0 || o.after < 0 || o.before >= o.after {
			t.Errorf("%s: event %d, then %d\n%s", o.what, o.before, o.after, report(res))
		}
	}
}

// TestNoBPFFallsBackToPoll runs C1 in a child process whose bpf(2) calls the kernel
// refuses with EPERM (a seccomp filter, as a locked-down or unprivileged host would):
// the run says why in Polled and on the timeline, and its kernel states come from
// the sock_diag poll, each marked so.
func TestNoBPFFallsBackToPoll(t *testing.T) {
	if os.Getenv("PKTLAB_NO_BPF_CHILD") == "1" {
		if err := privtest.DenyBPF(); err != nil {
			t.Fatal(err)
		}
		if _, err := ktrace.Open(nil); err == nil {
			t.Fatal("ktrace.Open succeeded under a filter that refuses bpf(2)")
		}
		res := runFile(t, "../examples/C1.yaml")
		if !strings.Contains(res.Polled, "kernel tracing unavailable") || !strings.Contains(res.Polled, "sock_diag") {
			t.Fatalf("Polled = %q, want why and that sock_diag replaces it", res.Polled)
		}
		notes, states := 0, 0
		for _, e := range res.Timeline.Events() {
			switch d := e.Data.(type) {
			case *timeline.Note:
				if d.Text == res.Polled {
					notes++
				}
			case *timeline.KernelState:
				states++
				if d.Source != "sock_diag poll" {
					t.Errorf("state %+v: source %q, want sock_diag poll", d, d.Source)
				}
			case *timeline.Retransmit, *timeline.Reset, *timeline.Drop:
				t.Errorf("a kernel event without BPF: %+v", d)
			}
		}
		if notes != 1 || states == 0 {
			t.Fatalf("%d notes of the fallback, %d polled states; want 1 and some\n%s", notes, states, report(res))
		}
		fmt.Println("child: polled:", res.Polled)
		return
	}
	privtest.Require(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestNoBPFFallsBackToPoll$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PKTLAB_NO_BPF_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child: polled: ktrace: kernel tracing unavailable") {
		t.Fatalf("child without bpf(2): %v\n%s", err, out)
	}
}

// bpfObjects counts this process's file descriptors that are BPF programs, maps or
// links (anon inodes "bpf-prog", "bpf-map", "bpf_link").
func bpfObjects(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && slices.Contains([]string{"anon_inode:bpf-prog", "anon_inode:bpf-map", "anon_inode:bpf_link"}, target) {
			n++
		}
	}
	return n
}

// TestWrongKernelSaysWhatWasSeen covers the kernel expectations: a refused connect's
// paths, resets and drop, each failure naming what the kernel reported instead.
func TestWrongKernelSaysWhatWasSeen(t *testing.T) {
	checkOutcomes(t, "testdata/wrong-kernel.yaml", []outcome{
		said(false, "a kernel TCP socket remote 198.18.1.1:81 that went CLOSE → SYN_SENT → ESTABLISHED on client", "0 matching of 1 selected socket(s)", ":81: CLOSE → SYN_SENT → CLOSE"),
		said(false, "RST sent reason TCP_STATE on server", "0 matching", "others:", "sent RST, reason NO_SOCKET"),
		said(false, "packet dropped by the kernel reason NETFILTER_DROP on server", "0 matching", "drop NO_SOCKET: 198.18.1.2:"),
		said(false, "retransmission flags [S] on client", "0 matching"),
		said(true, "exactly 1 × kernel TCP socket remote 198.18.1.1:81 that went CLOSE → SYN_SENT → CLOSE on client", "1 matching of 1"),
		said(true, "exactly 1 × RST received remote 198.18.1.1:81, in SYN_SENT on client", "received RST in SYN_SENT"),
		said(true, "exactly 1 × RST sent local 198.18.1.1:81, without a socket, reason NO_SOCKET on server", "sent RST, reason NO_SOCKET, for 198.18.1.2:"),
		said(true, "exactly 1 × packet dropped by the kernel reason NO_SOCKET, tcp, to 198.18.1.1, dport 81, flags [S] on server", "1 matching"),
	})
}

// said is an outcome whose want text holds want and whose seen text holds each of
// seen.
func said(pass bool, want string, seen ...string) outcome {
	return outcome{pass, []string{want}, seen}
}

// TestCongestionWhenAsked: congestion samples (tcp:tcp_probe) reach the timeline only
// with Options.Congestion, with the sender's variables read from tcp_sock.
func TestCongestionWhenAsked(t *testing.T) {
	privtest.Require(t)
	f, err := experiment.Load("../examples/C1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, cong := range []bool{false, true} {
		res, err := experiment.Run(context.Background(), f, experiment.Options{Congestion: cong})
		if err != nil {
			t.Fatal(err)
		}
		samples := res.Timeline.Select(timeline.KindCongestion)
		if !cong && len(samples) > 0 {
			t.Errorf("without Congestion: %d congestion samples", len(samples))
		}
		if cong && len(samples) == 0 {
			t.Errorf("with Congestion: no samples\n%s", report(res))
		}
		for _, e := range samples {
			if c := e.Data.(*timeline.CongestionSample); c.SndCwnd == 0 || c.MSS == 0 || !c.Local.IsValid() {
				t.Errorf("sample on %s: %+v: want cwnd, mss and addresses", e.Node, c)
			}
		}
	}
}

// TestSharedTracerParallelRuns: two runs of one file at once, with the same
// addresses, on one tracer (as pktlab run -j gives them): each timeline holds only
// its own lab's kernel events, so C2's exact counts (one drop, one RST each way, one
// client path) hold in both.
func TestSharedTracerParallelRuns(t *testing.T) {
	privtest.Require(t)
	tr, err := ktrace.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	f, err := experiment.Load("../examples/C2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan *experiment.Result, 2)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			res, err := experiment.Run(context.Background(), f, experiment.Options{Tracer: tr})
			results <- res
			errs <- err
		}()
	}
	for range 2 {
		res, err := <-results, <-errs
		if err != nil {
			t.Fatal(err)
		}
		if !res.Passed() {
			t.Errorf("run %s failed:\n%s", res.LabName, report(res))
		}
		if n := len(res.Timeline.Select(timeline.KindReset)); n != 2 {
			t.Errorf("run %s: %d resets on its timeline, want its own 2 (sent and received)", res.LabName, n)
		}
	}
	if st := tr.Stats(); st.Lost != 0 {
		t.Errorf("%d events lost", st.Lost)
	}
}

// TestSynSentStreamsInPlace: C3's client connects without binding, so the kernel
// reports CLOSE → SYN_SENT before connect() picks the local port, and the SYN is
// never answered. Streamed as `pktlab run` streams a timeline (each event held for a
// window of its time, then handed over in time order), the change comes before the
// SYN it precedes, with the port the SYN is sent from: it is not held until the
// socket's next event, the retransmission a second later, when the SYN had been
// handed over long before. The window here is longer than run's 100 ms, for a
// loaded machine, and far shorter than that second.
func TestSynSentStreamsInPlace(t *testing.T) {
	privtest.Require(t)
	const window = 300 * time.Millisecond
	f, err := experiment.Load("../examples/C3.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var streamed []timeline.Event
	var stream *timeline.Stream
	stop, done := make(chan struct{}), make(chan struct{})
	opts := experiment.Options{Watch: func(_ string, tl *timeline.Timeline) {
		stream = tl.Watch(func(e timeline.Event) { streamed = append(streamed, e) })
		go func() {
			defer close(done)
			tick := time.NewTicker(window / 8)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case now := <-tick.C:
					stream.Release(now.Add(-window))
				}
			}
		}()
	}}
	res, err := experiment.Run(context.Background(), f, opts)
	if stream != nil {
		close(stop)
		<-done
		stream.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed() {
		t.Errorf("C3 failed:\n%s", report(res))
	}
	synSent := func(e timeline.Event) bool {
		st, ok := e.Data.(*timeline.KernelState)
		return ok && e.Node == "client" && st.From == "CLOSE" && st.To == "SYN_SENT"
	}
	state, syn := -1, frameIndex(streamed, "client", "S", true)
	for i, e := range streamed {
		if synSent(e) {
			state = i
			break
		}
	}
	if state < 0 || syn < 0 {
		t.Fatalf("streamed: CLOSE → SYN_SENT at %d, the client's SYN at %d\n%s", state, syn, report(res))
	}
	st, p := streamed[state].Data.(*timeline.KernelState), &streamed[syn].Frame().Packet
	if state > syn {
		t.Errorf("CLOSE → SYN_SENT streamed after the SYN it precedes (event %d, the SYN %d):\n%s", state, syn, res.Timeline.Line(streamed[state]))
	}
	if st.Local.Port() == 0 || int(st.Local.Port()) != p.SPort {
		t.Errorf("CLOSE → SYN_SENT from %v, the SYN from port %d", st.Local, p.SPort)
	}
	n := 0
	for _, e := range res.Timeline.Events() {
		if synSent(e) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d CLOSE → SYN_SENT changes on the timeline, want 1", n)
	}
}

// TestLostEventsNotedBeforeChecks: events the kernel could not put in the ring are
// noted on the timeline before the expectations are checked, and a kernel
// expectation that fails says so, so that a missing event is read beside its
// cause. A second subscription to the client's namespace that nobody reads stalls
// the tracer's reader, and a 4 MiB transfer's congestion samples (one per ACK,
// segments of one MSS) fill the 64 KiB ring.
func TestLostEventsNotedBeforeChecks(t *testing.T) {
	privtest.Require(t)
	tr, err := ktrace.Open(&ktrace.Options{Congestion: true, RingSize: 64 << 10, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	f, err := experiment.Parse("lost.yaml", []byte(`
lab:
  nodes:
    client: {interfaces: {eth0: [198.18.1.2/24]}}
    server: {interfaces: {eth0: [198.18.1.1/24]}}
  links:
    - [client:eth0, server:eth0]
steps:
  - {node: client, exec: [ethtool, -K, eth0, tso, "off", gso, "off"], ok: true}
  - {node: server, listen: l, addr: 198.18.1.1:80}
  - {node: client, connect: c, addr: 198.18.1.1:80}
  - {node: server, accept: l, as: s}
  - {node: client, send: c, size: 4194304}
  - {node: server, recv: s, size: 4194304, flags: [waitall]}
expect:
  - retransmit: {node: client, count: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	var blocker *ktrace.Subscription
	defer func() {
		if blocker != nil {
			blocker.Close()
		}
	}()
	watch := func(lab string, _ *timeline.Timeline) {
		fd, err := unix.Open(filepath.Join(testlab.NetnsDir, testlab.NamespaceName(lab, "client")), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		ns, err := ktrace.NetNSOf(fd)
		if err == nil {
			blocker, err = tr.Subscribe(ns, "blocker")
		}
		if err != nil {
			t.Error(err)
		}
	}
	res, err := experiment.Run(context.Background(), f, experiment.Options{Tracer: tr, Watch: watch})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Outcomes) != 1 || res.Outcomes[0].Pass {
		t.Fatalf("outcomes %+v, want the one retransmit expectation failed", res.Outcomes)
	}
	if seen := res.Outcomes[0].Seen; !strings.Contains(seen, "kernel tracing lost") {
		t.Errorf("the failed expectation does not name the lost events: %q", seen)
	}
	noted := false
	for _, e := range res.Timeline.Select(timeline.KindNote) {
		if n := e.Data.(*timeline.Note); e.Node == "client" && strings.Contains(n.Text, "events lost") {
			noted = true
		}
	}
	if !noted {
		t.Errorf("no note of the client's lost events; stats %+v", tr.Stats())
	}
}
