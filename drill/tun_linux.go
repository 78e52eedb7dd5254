package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/testlab"
)

// tunName is the device the remote side lives behind, as in packetdrill.
const tunName = "tun0"

// labTopology is a lab of one node under test ("local") whose only veth goes to a
// node that is never used: testlab wants every interface on a link, and the script's
// traffic goes through the tun device drill adds to "local".
func labTopology(name string) string {
	return "name: " + name + `
nodes:
  local:
    interfaces:
      eth0: []
  spare:
    interfaces:
      eth0: []
links:
  - [local:eth0, spare:eth0]
`
}

// newLabName is "drill" and 6 hex digits: lab names are short, namespace names
// pktlab-drillXXXXXX-local.
func newLabName() string {
	var b [3]byte
	rand.Read(b[:])
	return "drill" + hex.EncodeToString(b[:])
}

// startLab creates the lab; the caller closes it.
func startLab(ctx context.Context) (*testlab.Lab, *testlab.Node, error) {
	topo, err := testlab.Parse([]byte(labTopology(newLabName())))
	if err != nil {
		return nil, nil, fmt.Errorf("drill: lab topology: %w", err)
	}
	lab, err := testlab.Start(ctx, topo)
	if err != nil {
		return nil, nil, fmt.Errorf("drill: start lab: %w", err)
	}
	return lab, lab.Node("local"), nil
}

// tunDevice is the tun device in the node: what the kernel sends to the remote
// address is read from it, and what drill writes to it the kernel receives.
type tunDevice struct {
	f *os.File
}

// openTun creates tun0 in the node (IFF_TUN|IFF_NO_PI: bare IP packets, no offloads,
// so the kernel segments before the device), brings it up with the local address and
// a route to the remote one.
func openTun(n *testlab.Node, cfg *netConfig) (*tunDevice, error) {
	var fd int
	err := n.Do(func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		var req [unix.IFNAMSIZ + 64]byte
		copy(req[:], tunName)
		*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", tunName, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drill: tun device in node %s: %w", n.Namespace(), err)
	}
	t := &tunDevice{f: os.NewFile(uintptr(fd), tunName)}
	if err := configureTun(n, cfg); err != nil {
		t.f.Close()
		return nil, err
	}
	return t, nil
}

func configureTun(n *testlab.Node, cfg *netConfig) error {
	h, err := n.Handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(tunName)
	if err != nil {
		return fmt.Errorf("drill: find %s: %w", tunName, err)
	}
	if err := h.LinkSetMTU(link, cfg.mtu); err != nil {
		return fmt.Errorf("drill: %s mtu %d: %w", tunName, cfg.mtu, err)
	}
	bits := 24
	if cfg.local.Is6() {
		bits = 64
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("drill: %s up: %w", tunName, err)
	}
	addr := &netlink.Addr{IPNet: netipNet(netip.PrefixFrom(cfg.local, bits)), Flags: unix.IFA_F_NODAD}
	if err := h.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("drill: address %v on %s: %w", cfg.local, tunName, err)
	}
	return waitReady(h, link, cfg)
}

// waitReady waits until the kernel has the local address (not tentative) and routes
// the remote one through tun0: an IPv6 SYN injected before that is dropped.
func waitReady(h *netlink.Handle, link netlink.Link, cfg *netConfig) error {
	family := netlink.FAMILY_V4
	if cfg.local.Is6() {
		family = netlink.FAMILY_V6
	}
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(time.Millisecond) {
		addrs, err := h.AddrList(link, family)
		if err != nil {
			return fmt.Errorf("drill: addresses of %s: %w", tunName, err)
		}
		ready := false
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == cfg.local && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				ready = true
			}
		}
		if !ready {
			continue
		}
		// The local route of an IPv6 address comes from addrconf's DAD work, after
		// the address is listed, even with IFA_F_NODAD: until it is there, a packet
		// to the address counts as Ip6InAddrErrors and is dropped.
		local, err := h.RouteGet(cfg.local.AsSlice())
		if err != nil || len(local) == 0 || local[0].Type != unix.RTN_LOCAL {
			continue
		}
		routes, err := h.RouteGet(cfg.remote.AsSlice())
		if err == nil && len(routes) > 0 && routes[0].LinkIndex == link.Attrs().Index {
			return nil
		}
	}
	return fmt.Errorf("drill: %s: address %v or the route to %v not ready after 5 s", tunName, cfg.local, cfg.remote)
}

// read returns the next packet the kernel sent, or an error once the deadline passes.
func (t *tunDevice) read(buf []byte, deadline time.Time) (int, error) {
	t.f.SetReadDeadline(deadline)
	n, err := t.f.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errTimeout
	}
	return n, err
}

func (t *tunDevice) write(pkt []byte) error {
	_, err := t.f.Write(pkt)
	if err != nil {
		return fmt.Errorf("drill: inject into %s: %w", tunName, err)
	}
	return nil
}

func (t *tunDevice) close() error { return t.f.Close() }

var errTimeout = errors.New("timed out")
