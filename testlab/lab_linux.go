//go:build linux

package testlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is a running lab. Close removes everything it created.
type Lab struct {
	topo  *Topology
	nodes []*Node

	mu      sync.Mutex
	closed  bool
	owned   bool // Close tears the lab down (false for a lab opened with Attach semantics)
	created bool // this process started the lab (Start, not Open)
}

// Node is one running node: a network namespace.
type Node struct {
	lab  *Lab
	spec *NodeSpec
	ns   netns.NsHandle
}

// Interface is a node's interface as created.
type Interface struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	MTU   int
	Addrs []netip.Prefix
}

// Name returns the lab's name.
func (l *Lab) Name() string { return l.topo.Name }

// Topology returns what the lab was built from.
func (l *Lab) Topology() *Topology { return l.topo }

// Node returns the node called name, or nil.
func (l *Lab) Node(name string) *Node {
	for _, n := range l.nodes {
		if n.spec.Name == name {
			return n
		}
	}
	return nil
}

// Nodes returns the lab's nodes in topology order.
func (l *Lab) Nodes() []*Node { return append([]*Node(nil), l.nodes...) }

// Name returns the node's name within its lab.
func (n *Node) Name() string { return n.spec.Name }

// Lab returns the lab the node belongs to.
func (n *Node) Lab() *Lab { return n.lab }

// Spec returns the node's description.
func (n *Node) Spec() *NodeSpec { return n.spec }

// Namespace returns the name of the node's namespace, as listed by `ip netns`.
func (n *Node) Namespace() string { return NamespaceName(n.lab.topo.Name, n.spec.Name) }

// NetNSFd returns a file descriptor of the node's network namespace, for libraries
// that take one (nftables.WithNetNSFd, netlink.Config.NetNS, netlink.NewHandleAt). It
// stays valid until the lab is closed.
func (n *Node) NetNSFd() int { return int(n.ns) }

// Handle returns a netlink handle that works inside the node's namespace. The caller
// closes it.
func (n *Node) Handle() (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(n.ns)
	if err != nil {
		return nil, fmt.Errorf("testlab: netlink handle in node %s of lab %s: %w", n.spec.Name, n.lab.topo.Name, err)
	}
	return h, nil
}

// Do runs fn on an OS thread whose network namespace is the node's, and returns its
// error. Sockets fn opens stay in the node's namespace after Do returns. If the thread
// cannot be switched back, it is never handed back to the Go scheduler: its goroutine
// exits locked, and the runtime ends the thread.
func (n *Node) Do(fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(n.ns); err != nil {
			return fmt.Errorf("testlab: enter namespace %s: %w", n.Namespace(), err)
		}
		return fn()
	})
}

// onThread runs fn on an OS thread locked for the call, and returns fn's error. fn may
// move the thread into another network namespace: onThread moves it back to the one it
// had. If that fails, the thread is never handed back to the Go scheduler: its
// goroutine exits locked, and the runtime ends the thread.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testlab: read this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("testlab: go back to the thread's network namespace: %w (thread discarded)", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Start starts cmd inside the node's network namespace. The child inherits the
// namespace of the thread that forks it, so it is forked from inside Do.
func (n *Node) Start(cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}

// Exec runs a program inside the node and returns its combined output. A non-zero
// exit is an error that carries the output.
func (n *Node) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("testlab: Exec needs a program to run")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Start(cmd); err != nil {
		return nil, fmt.Errorf("testlab: node %s: start %s: %w", n.spec.Name, argv[0], err)
	}
	err := cmd.Wait()
	b := []byte(out.String())
	if err != nil {
		return b, fmt.Errorf("testlab: node %s: %s: %w: %s", n.spec.Name, strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return b, nil
}

// Sysctl reads a net.* sysctl inside the node.
func (n *Node) Sysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile(sysctlPath(key))
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("testlab: node %s: read sysctl %s: %w", n.spec.Name, key, err)
	}
	return v, nil
}

// SetSysctl writes a net.* sysctl inside the node. Other sysctls are refused: they are
// not per namespace, so writing one would change the host.
func (n *Node) SetSysctl(key, value string) error {
	if !sysctlKeyRE.MatchString(key) {
		return fmt.Errorf("testlab: node %s: sysctl %s is not a net.* sysctl; only those are per namespace", n.spec.Name, key)
	}
	err := n.Do(func() error { return writeSysctl(key, value) })
	if err != nil {
		return fmt.Errorf("testlab: node %s: set sysctl %s=%s: %w", n.spec.Name, key, value, err)
	}
	return nil
}

// sysctlPath maps net.ipv4.conf.eth0.forwarding to /proc/sys/net/ipv4/conf/eth0/forwarding.
// /proc/sys/net is resolved in the namespace of the thread that opens it.
func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func writeSysctl(key, value string) error {
	f, err := os.OpenFile(sysctlPath(key), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Interfaces returns the node's interfaces as they are now in the kernel, in topology
// order (a bridge node lists its ports, not br0).
func (n *Node) Interfaces() []Interface {
	h, err := n.Handle()
	if err != nil {
		return nil
	}
	defer h.Close()
	var out []Interface
	for _, s := range n.spec.Interfaces {
		link, err := h.LinkByName(s.Name)
		if err != nil {
			continue
		}
		a := link.Attrs()
		it := Interface{Name: a.Name, Index: a.Index, MAC: a.HardwareAddr, MTU: a.MTU}
		addrs, _ := h.AddrList(link, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			if ad.IP.IsLinkLocalUnicast() {
				continue
			}
			ip, _ := netip.AddrFromSlice(ad.IP)
			ones, _ := ad.Mask.Size()
			it.Addrs = append(it.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
		out = append(out, it)
	}
	return out
}

// Interface returns one interface by name.
func (n *Node) Interface(name string) (Interface, error) {
	for _, i := range n.Interfaces() {
		if i.Name == name {
			return i, nil
		}
	}
	return Interface{}, fmt.Errorf("testlab: node %s of lab %s has no interface %q", n.spec.Name, n.lab.topo.Name, name)
}

// LookupNode is Node with an error that lists the nodes there are.
func (l *Lab) LookupNode(name string) (*Node, error) {
	if n := l.Node(name); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("lab %s has no node %q (nodes: %s)", l.topo.Name, name, nodeNames(l.topo))
}

// Close removes the lab: its namespaces (and with them every link, address, route and
// nftables table in them) and its state file. It is safe to call twice. A lab opened
// with Open is removed too; use Release to let go of it without removing it.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, n := range l.nodes {
		n.ns.Close()
	}
	if l.owned {
		errs = append(errs, removeLab(l.topo.Name, nsNames(l.topo))...)
	}
	return errors.Join(errs...)
}

// Release closes the lab's namespace handles without removing the lab. A lab this
// process started is left up on purpose, as by pktlab lab up: its state stops saying
// that this process holds it, so that it is not taken for an orphan once the process
// has exited. The error is that of rewriting the state file.
func (l *Lab) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for _, n := range l.nodes {
		n.ns.Close()
	}
	if l.created {
		return update(l.topo.Name, func(s *State) { s.Held = false })
	}
	return nil
}

func nsNames(t *Topology) []string {
	out := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		out[i] = NamespaceName(t.Name, n.Name)
	}
	return out
}

// removeLab unmounts and removes the named namespaces and the state file, ignoring
// what is already gone.
func removeLab(name string, namespaces []string) []error {
	var errs []error
	for _, ns := range namespaces {
		if err := deleteNamespace(ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(statePath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("testlab: remove state of lab %s: %w", name, err))
	}
	return errs
}

func deleteNamespace(ns string) error {
	p := filepath.Join(NetnsDir, ns)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("testlab: unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("testlab: %w", err)
	}
	return nil
}

// NetnsDir is where named namespaces are bind-mounted, as iproute2 expects.
const NetnsDir = "/run/netns"
