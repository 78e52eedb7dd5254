package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/testlab"
)

// kernelStack is the Linux kernel of a fresh lab node, with pktlab as the remote
// behind tun0.
type kernelStack struct {
	lab  *testlab.Lab
	node *testlab.Node
	tun  *tunDevice
	tap  *rawsock.Conn // a packet socket on tun0: what the kernel sends, kernel-stamped
	nc   *netConfig
	flow *flow
	t0   time.Time
	pkts chan sniffed
	stop chan struct{}
	halt context.CancelFunc // ends the tap's reads
	wg   sync.WaitGroup

	mu  sync.Mutex    // guards t0, fds and cur: blocking calls and sniff run in goroutines
	fds map[int64]int // script fd → live fd
	cur int64         // the script's current socket, for TCP_INFO
}

// sniffed is a packet read from tun0 and when.
type sniffed struct {
	b  []byte
	at time.Duration
}

func newKernelStack(ctx context.Context, nc *netConfig, f *flow) (_ *kernelStack, err error) {
	lab, node, err := startLab(ctx)
	if err != nil {
		return nil, err
	}
	k := &kernelStack{lab: lab, node: node, nc: nc, flow: f, fds: map[int64]int{}, cur: -1,
		pkts: make(chan sniffed, 4096), stop: make(chan struct{})}
	defer func() {
		if err != nil {
			k.close()
		}
	}()
	if k.tun, err = openTun(node, nc); err != nil {
		return nil, err
	}
	if k.tap, err = rawsock.Open(node, tunName, nil); err != nil {
		return nil, fmt.Errorf("drill: packet socket on %s: %w", tunName, err)
	}
	var tapCtx context.Context
	tapCtx, k.halt = context.WithCancel(context.Background())
	k.t0 = time.Now()
	k.wg.Add(2)
	go k.sniff(tapCtx)
	go k.drain()
	return k, nil
}

// sniff reads what the kernel sends through tun0 from a packet socket on it, until
// close: each packet carries the time the kernel handed it to the device
// (SO_TIMESTAMPNS), so a loaded machine delays drill's reading, not the times it
// checks. The frames drill writes into tun0 come in as PACKET_HOST and are skipped.
func (k *kernelStack) sniff(ctx context.Context) {
	defer k.wg.Done()
	buf := make([]byte, 65536)
	for {
		f, err := k.tap.ReadFrame(ctx, buf)
		if err != nil {
			return
		}
		if f.Type != rawsock.PacketOutgoing || f.Truncated() {
			continue
		}
		p := sniffed{b: append([]byte(nil), f.Data...), at: f.Time.Sub(k.origin())}
		select {
		case k.pkts <- p:
		case <-k.stop:
			return
		}
	}
}

// drain reads and drops what reaches tun0's file descriptor (the same packets the
// tap stamps), so the device's queue never fills.
func (k *kernelStack) drain() {
	defer k.wg.Done()
	buf := make([]byte, 65536)
	for {
		_, err := k.tun.read(buf, time.Now().Add(100*time.Millisecond))
		select {
		case <-k.stop:
			return
		default:
		}
		if err != nil && !errors.Is(err, errTimeout) {
			return
		}
	}
}

func (k *kernelStack) now() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return time.Since(k.t0)
}

// rebase moves time 0 to now; packets sniffed before keep their (negative) times.
func (k *kernelStack) rebase() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.t0 = time.Now()
}

func (k *kernelStack) sleepUntil(ctx context.Context, t time.Duration) error {
	d := time.Until(k.origin().Add(t))
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (k *kernelStack) origin() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.t0
}

func (k *kernelStack) inject(pkt []byte) error { return k.tun.write(pkt) }

func (k *kernelStack) recv(ctx context.Context, deadline time.Duration) ([]byte, time.Duration, error) {
	tm := time.NewTimer(max(time.Until(k.origin().Add(deadline)), 0))
	defer tm.Stop()
	select {
	case p := <-k.pkts:
		return p.b, p.at, nil
	case <-tm.C:
		return nil, 0, errTimeout
	case <-ctx.Done():
		return nil, 0, context.Cause(ctx)
	}
}

func (k *kernelStack) wait(ctx context.Context, done <-chan callResult, deadline time.Duration) (callResult, error) {
	tm := time.NewTimer(max(time.Until(k.origin().Add(deadline)), 0))
	defer tm.Stop()
	select {
	case r := <-done:
		return r, nil
	case <-tm.C:
		return callResult{blocked: true, end: k.now()}, nil
	case <-ctx.Done():
		return callResult{}, context.Cause(ctx)
	}
}

// shellOutputLimit bounds what a shell line's output may fill in memory.
const shellOutputLimit = 64 << 10

// shell runs cmd with sh -c inside the node, in dir, as packetdrill's system() with
// PACKETDRILL_PID exported.
func (k *kernelStack) shell(ctx context.Context, cmd, dir string) (string, error) {
	return "", k.runShell(ctx, cmd, dir)
}

func (k *kernelStack) runShell(ctx context.Context, cmd, dir string) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Dir = dir
	c.Env = append(os.Environ(), fmt.Sprintf("PACKETDRILL_PID=%d", os.Getpid()))
	out := &limitedBuffer{max: shellOutputLimit}
	c.Stdout, c.Stderr = out, out
	if err := k.node.Start(c); err != nil {
		return err
	}
	if err := c.Wait(); err != nil {
		msg := strings.TrimSpace(out.b.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Exited() {
				err = fmt.Errorf("non-zero status %d", st.ExitStatus())
			}
		}
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   strings.Builder
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (k *kernelStack) tcpInfo(fd int64) (TCPInfo, error) {
	k.mu.Lock()
	if fd < 0 {
		fd = k.cur
	}
	live, ok := k.fds[fd]
	k.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no socket")
	}
	buf := make([]byte, TCPInfoSize)
	n, err := getsockoptBytes(live, unix.IPPROTO_TCP, unix.TCP_INFO, buf)
	if err != nil {
		return nil, err
	}
	return TCPInfo(buf[:n]), nil
}

func (k *kernelStack) close() error {
	k.mu.Lock()
	for _, fd := range k.fds {
		unix.Shutdown(fd, unix.SHUT_RDWR) // wakes calls still blocked in accept, read, …
		unix.Close(fd)
	}
	k.fds = map[int64]int{}
	k.mu.Unlock()
	close(k.stop)
	if k.halt != nil {
		k.halt()
	}
	k.wg.Wait()
	var errs []error
	if k.tap != nil {
		errs = append(errs, k.tap.Close())
	}
	if k.tun != nil {
		errs = append(errs, k.tun.close())
	}
	errs = append(errs, k.lab.Close())
	return errors.Join(errs...)
}
