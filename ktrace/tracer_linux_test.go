package ktrace_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/sockdiag"
	"github.com/pktlab/pktlab/testlab"
)

// TestTwoLabsSameAddresses: two labs with the same addresses, traced by one
// tracer at once, each connect from their own client port: each node sees its own
// lab's connection and nothing of the other's.
func TestTwoLabsSameAddresses(t *testing.T) {
	lab1, lab2 := labtest.Start(t, twoHosts), labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab1, lab2)
	srv := netip.MustParseAddrPort("198.18.0.2:7009")
	var wg sync.WaitGroup
	for i, lab := range []*testlab.Lab{lab1, lab2} {
		ln := listen(t, lab.Node("b"), srv)
		cli := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), uint16(42001+i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(lab.Node("a"), cli, srv)
			if err != nil {
				t.Error(err)
				return
			}
			s, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
			io.Copy(io.Discard, s)
			s.Close()
		}()
	}
	wg.Wait()
	for i := range 2 {
		own, other := uint16(42001+i), uint16(42001+1-i)
		a := recs[fmt.Sprintf("%d/a", i+1)].wait(t, "client CLOSE", reaches(toPort(srv.Port()), closed))
		b := recs[fmt.Sprintf("%d/b", i+1)].wait(t, "server child CLOSE", reaches(childOf(own), closed))
		for _, evs := range [][]ktrace.Event{a, b} {
			for _, s := range states(evs) {
				if s.Local.Port() == other || s.Remote.Port() == other {
					t.Errorf("lab %d sees lab %d's socket: %s", i+1, 2-i, describe(s))
				}
			}
			ns := evs[0].EventHeader().NetNS
			for _, ev := range evs {
				if ev.EventHeader().NetNS != ns {
					t.Errorf("lab %d: events of two namespaces in one subscription: %s", i+1, describe(ev))
				}
			}
		}
		if p := path(a, socketOf(a, toPort(srv.Port()))); !slices.Equal(p, []ktrace.State{closed, synSent, est, finWait1, finWait2, closed}) {
			t.Errorf("lab %d client path %v", i+1, p)
		}
	}
}

// TestManyShortConnections: 10 000 connections opened and closed as fast as one
// client can, all traced, none lost: every handshake of both ends is there.
func TestManyShortConnections(t *testing.T) {
	const n = 10000
	lab := labtest.Start(t, twoHosts)
	tr, err := ktrace.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Count handshakes as they arrive (a recorder would keep 150 000 events).
	var mu sync.Mutex
	handshakes := map[string]int{}
	var wg sync.WaitGroup
	for _, node := range lab.Nodes() {
		sub, err := tr.SubscribeNode(node)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range sub.Events() {
				if s, ok := ev.(*ktrace.StateChange); ok && s.New == est && (s.Old == synSent || s.Old == synRecv) {
					mu.Lock()
					handshakes[s.Node]++
					mu.Unlock()
				}
			}
		}()
	}
	start := time.Now()
	shortConnections(t, lab, netip.MustParseAddrPort("198.18.0.2:7010"), n)
	elapsed := time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	// The lab goes on making the odd event after the burst (an MLD report dropped, a
	// socket freed), so a record emitted after Drain read its target is not one lost:
	// drain until the counters agree.
	st := tr.Stats()
	for {
		if err := tr.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if st = tr.Stats(); st.Emitted == st.Received && st.Received == st.Delivered || st.Lost != 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("counters never agreed: %+v", st)
		case <-time.After(time.Millisecond): // a subscriber still taking its events
		}
	}
	t.Logf("%d connections in %v; stats %+v", n, elapsed, st)
	if st.Lost != 0 {
		t.Errorf("%d events lost", st.Lost)
	}
	if st.Emitted != st.Received || st.Received != st.Delivered {
		t.Errorf("%d records emitted, %d received, %d delivered", st.Emitted, st.Received, st.Delivered)
	}
	tr.Close() // closes the channels: the counters are final
	wg.Wait()
	if handshakes["a"] != n || handshakes["b"] != n {
		t.Errorf("handshakes seen: client %d, server %d; want %d each", handshakes["a"], handshakes["b"], n)
	}
}

// bpfIDs lists the IDs of every BPF object of one kind, walking the kernel's own
// list (BPF_PROG_GET_NEXT_ID, BPF_MAP_GET_NEXT_ID, BPF_LINK_GET_NEXT_ID).
func bpfIDs(t *testing.T, cmd uintptr) []uint32 {
	t.Helper()
	var ids []uint32
	var attr struct{ start, next, flags uint32 }
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if errno == unix.ENOENT {
			return ids
		}
		if errno != 0 {
			t.Fatalf("bpf get next id (cmd %d): %v", cmd, errno)
		}
		ids = append(ids, attr.next)
		attr.start = attr.next
	}
}

const (
	bpfProgGetNextID = 11
	bpfMapGetNextID  = 12
	bpfLinkGetNextID = 31
)

// TestCloseRemovesEverything: the kernel's own list of programs, maps and links
// holds the tracer's while it is open and none of them after Close.
func TestCloseRemovesEverything(t *testing.T) {
	privtest.Require(t)
	tr, err := ktrace.Open(&ktrace.Options{Congestion: true})
	if err != nil {
		t.Fatal(err)
	}
	progs, maps, links, err := ktrace.ObjectIDs(tr)
	if err != nil {
		t.Fatal(err)
	}
	// Two programs per tracepoint (a primary and its backup, prog_linux.go).
	if len(progs) != 18 || len(links) != 18 || len(maps) != 3 {
		t.Fatalf("tracer has %d programs, %d links, %d maps; want 18, 18, 3", len(progs), len(links), len(maps))
	}
	kinds := []struct {
		name string
		cmd  uintptr
		ours []uint32
	}{{"program", bpfProgGetNextID, progs}, {"map", bpfMapGetNextID, maps}, {"link", bpfLinkGetNextID, links}}
	for _, k := range kinds {
		live := bpfIDs(t, k.cmd)
		for _, id := range k.ours {
			if !slices.Contains(live, id) {
				t.Errorf("%s %d not in the kernel's list while the tracer is open", k.name, id)
			}
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The kernel frees a detached program after an RCU grace period, so its ID
	// leaves the list a moment after Close: wait for the list to say so.
	for _, k := range kinds {
		labtest.Until(t, k.name+"s of the tracer to leave the kernel's list", func() (bool, error) {
			live := bpfIDs(t, k.cmd)
			left := slices.DeleteFunc(slices.Clone(k.ours), func(id uint32) bool { return !slices.Contains(live, id) })
			return len(left) == 0, fmt.Errorf("%v left after Close", left)
		})
	}
}

// TestUnprivilegedOpenFails: as nobody, Open fails with an error that says so and
// that callers detect with errors.Is(err, ktrace.ErrUnsupported) and
// os.ErrPermission. The test binary runs itself as user 65534.
func TestUnprivilegedOpenFails(t *testing.T) {
	if os.Getenv("KTRACE_UNPRIVILEGED_CHILD") == "1" {
		_, err := ktrace.Open(nil)
		if !errors.Is(err, ktrace.ErrUnsupported) || !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_BPF") {
			t.Fatalf("Open as uid %d: %v; want ErrUnsupported and ErrPermission naming CAP_BPF", os.Getuid(), err)
		}
		fmt.Println("child:", err)
		return
	}
	privtest.Require(t) // root, to switch to nobody
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pktlab-ktrace-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "ktrace.test")
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnprivilegedOpenFails$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KTRACE_UNPRIVILEGED_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child: ktrace: kernel tracing unavailable") {
		t.Fatalf("unprivileged child: %v\n%s", err, out)
	}
}

// mountinfo is this process's mount table, sorted, without the labs' namespace
// files under /run/netns: labs of other tests come and go there meanwhile.
func mountinfo(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], "/run/netns/") {
			continue
		}
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return lines
}

// TestMatchesBpftrace: bpftrace, run in a private mount namespace with tracefs
// mounted there, sees on sock:inet_sock_set_state the same state changes of the
// same connections as ktrace, in the same namespaces (found by its own BTF casts);
// and the host's mount table is the same before and after.
func TestMatchesBpftrace(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	if _, err := exec.LookPath("bpftrace"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("bpftrace not installed (scripts/test.sh installs it)")
		}
		t.Skip("bpftrace not installed")
	}
	before := mountinfo(t)
	_, recs := traceLab(t, nil, lab)
	const port = 7011
	// bpftrace finds each socket's namespace through its own BTF casts, and only
	// the lab's two are printed: other tests' connections never mix in.
	var inums []string
	for _, n := range lab.Nodes() {
		ns, err := ktrace.NetNSOf(n.NetNSFd())
		if err != nil {
			t.Fatal(err)
		}
		inums = append(inums, fmt.Sprintf("$ns == %d", ns))
	}
	prog := fmt.Sprintf(`BEGIN { printf("ready\n"); }
tracepoint:sock:inet_sock_set_state /args->protocol == 6 && (args->sport == %d || args->dport == %d)/ {
	$ns = ((struct sock *)args->skaddr)->__sk_common.skc_net.net->ns.inum;
	if (%s) {
		printf("%%u %%llx %%d %%d %%d %%d\n", $ns, (uint64)args->skaddr, args->sport, args->dport, args->oldstate, args->newstate);
	}
}`, port, port, strings.Join(inums, " || "))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount -t tracefs pktlab-tracefs /sys/kernel/tracing && exec bpftrace -e "$0"`, prog)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second // then killed, whatever it is doing
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuilder
	cmd.Stderr = &stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	// Every line bpftrace prints, kept as it comes, so that it never waits on us.
	out := &lineLog{changed: make(chan struct{})}
	go out.read(stdout)
	// bpftrace says "Attaching N probes..." first; BEGIN runs once they are attached.
	out.wait(t, "bpftrace ready", &stderr, func(l []string) bool { return slices.Contains(l, "ready") })
	t.Logf("bpftrace ready after %v", time.Since(started))

	// Two connections, each closed by the client.
	srv := netip.AddrPortFrom(netip.MustParseAddr("198.18.0.2"), port)
	ln := listen(t, lab.Node("b"), srv)
	for i := range 2 {
		c, err := dial(lab.Node("a"), netip.AddrPortFrom(netip.MustParseAddr("198.18.0.1"), uint16(43001+i)), srv)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		io.Copy(io.Discard, s)
		s.Close()
		recs["b"].wait(t, "server child CLOSE", reaches(childOf(uint16(43001+i)), closed))
		recs["a"].wait(t, "client CLOSE", reaches(func(s *ktrace.StateChange) bool { return s.Local.Port() == uint16(43001+i) }, closed))
	}
	ln.Close()
	recs["b"].wait(t, "listener CLOSE", reaches(func(s *ktrace.StateChange) bool { return s.Local == srv && s.New == sockdiag.Listen }, closed))

	// ktrace's view, in bpftrace's words: namespace, socket, sport, dport, old, new.
	var want []string
	for _, node := range []string{"a", "b"} {
		for _, s := range states(recs[node].snapshot()) {
			if s.Local.Port() == port || s.Remote.Port() == port {
				want = append(want, fmt.Sprintf("%d %x %d %d %d %d", s.NetNS, s.Sock, s.Local.Port(), s.Remote.Port(), s.Old, s.New))
			}
		}
	}
	lines := out.wait(t, fmt.Sprintf("%d state changes from bpftrace", len(want)), &stderr, func(l []string) bool {
		return len(l) >= len(want)+2 // and "Attaching…", "ready"
	})
	var got []string
	for _, l := range lines {
		if strings.Count(l, " ") == 5 {
			got = append(got, l)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("ktrace and bpftrace differ\nktrace:\n%s\nbpftrace:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	if len(want) < 2*(5+5)+2 {
		t.Errorf("only %d state changes compared", len(want))
	}
	if after := mountinfo(t); !slices.Equal(before, after) {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// lineLog keeps the lines a reader gives and wakes waiters on each.
type lineLog struct {
	mu      sync.Mutex
	lines   []string
	done    bool
	changed chan struct{}
}

func (o *lineLog) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		o.mu.Lock()
		o.lines = append(o.lines, sc.Text())
		close(o.changed)
		o.changed = make(chan struct{})
		o.mu.Unlock()
	}
	o.mu.Lock()
	o.done = true
	close(o.changed)
	o.mu.Unlock()
}

func (o *lineLog) wait(t *testing.T, what string, stderr *syncBuilder, done func([]string) bool) []string {
	t.Helper()
	deadline := time.After(failAfter)
	for {
		o.mu.Lock()
		lines, ended, ch := o.lines[:len(o.lines):len(o.lines)], o.done, o.changed
		o.mu.Unlock()
		if done(lines) {
			return lines
		}
		if ended {
			t.Fatalf("no %s: it ended after printing\n%s\nstderr:\n%s", what, strings.Join(lines, "\n"), stderr.String())
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s after %v; printed\n%s\nstderr:\n%s", what, failAfter, strings.Join(lines, "\n"), stderr.String())
		}
	}
}

// syncBuilder is a strings.Builder that a command writes while a test may read it.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBackupTakesWhatThePrimaryMissed: the kernel skips a raw tracepoint program on
// a CPU where it is already running (a softirq that interrupted it), so each
// tracepoint has a backup program that takes the event when the primary's busy
// mark is set on that CPU (prog_linux.go, role). The programs run here through
// BPF_PROG_TEST_RUN on one CPU, with the mark as a running primary leaves it and
// as an idle one does; Stats.Rescued counts what the backup took.
func TestBackupTakesWhatThePrimaryMissed(t *testing.T) {
	privtest.Require(t)
	tr, err := ktrace.Open(&ktrace.Options{Congestion: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// A state change with no socket: the programs find no namespace and record
	// nothing, but the backup counts its take before it looks.
	args := []uint64{0, 7, 1}
	const tp = "inet_sock_set_state"
	run := func(backup bool) {
		t.Helper()
		if err := ktrace.RunProgram(tr, tp, backup, 0, args); err != nil {
			t.Fatalf("run the %s program (backup %v): %v", tp, backup, err)
		}
	}
	mark := func() uint64 {
		t.Helper()
		per, err := ktrace.BusyMark(tr, tp)
		if err != nil {
			t.Fatal(err)
		}
		return per[0]
	}

	run(false)
	if m := mark(); m != 0 {
		t.Fatalf("after the primary ran, its busy mark on CPU 0 is %d, want 0 (cleared on the way out)", m)
	}
	base := tr.Stats().Rescued
	run(true)
	if got := tr.Stats().Rescued - base; got != 0 {
		t.Errorf("the backup took %d events while the primary was idle, want 0", got)
	}
	if err := ktrace.SetBusyMark(tr, tp, 0, 1); err != nil {
		t.Fatal(err)
	}
	run(true)
	run(true)
	if got := tr.Stats().Rescued - base; got != 2 {
		t.Errorf("the backup took %d events while the primary was busy on its CPU, want 2", got)
	}
	if m := mark(); m != 1 {
		t.Errorf("the backup changed the primary's mark to %d", m)
	}
	if st := tr.Stats(); st.Missed != 0 {
		t.Errorf("Missed %d with no recursion: %+v", st.Missed, st)
	}
}
