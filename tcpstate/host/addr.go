package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/testlab"
)

// Own-address defaults. In each subnet of the interface the host takes the node's
// own host part plus ownOffset4 (IPv4) or ownOffset6 (IPv6): 198.18.1.2 gives
// 198.18.1.102 and 2001:db8:1::2 gives 2001:db8:1::102, so that two nodes of one
// subnet get two addresses, and the address says whose it is. When that address or
// the MAC derived from it is taken, the next one is tried, up to ownTries.
const (
	ownOffset4 = 100
	ownOffset6 = 0x100
	ownTries   = 64
)

// ErrAddrInUse is what Start's error wraps when an address or MAC the host would use
// is already on the lab: a node's kernel has it, or another userspace host does.
var ErrAddrInUse = errors.New("address already in use in the lab")

// offsetAddr returns the address of subnet p whose host part is a's plus off, modulo
// the size of the subnet; false when that is the subnet's network or (IPv4)
// broadcast address, or the subnet has no room.
func offsetAddr(p netip.Prefix, a netip.Addr, off uint64) (netip.Addr, bool) {
	if a.Is4() {
		hostBits := 32 - p.Bits()
		if hostBits < 2 {
			return netip.Addr{}, false
		}
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:])
		mask := uint32(1)<<hostBits - 1
		h := (v&mask + uint32(off)) & mask
		if h == 0 || h == mask {
			return netip.Addr{}, false
		}
		binary.BigEndian.PutUint32(b[:], v&^mask|h)
		return netip.AddrFrom4(b), true
	}
	hostBits := min(128-p.Bits(), 64)
	if hostBits < 1 {
		return netip.Addr{}, false
	}
	b := a.As16()
	v := binary.BigEndian.Uint64(b[8:])
	mask := ^uint64(0)
	if hostBits < 64 {
		mask = uint64(1)<<hostBits - 1
	}
	h := (v&mask + off) & mask
	if h == 0 { // the subnet-router anycast address (RFC 4291 §2.6.1)
		return netip.Addr{}, false
	}
	binary.BigEndian.PutUint64(b[8:], v&^mask|h)
	return netip.AddrFrom16(b), true
}

// derivedMAC is the host's MAC when the Config gives none: locally administered,
// 02:70:6b ("pk") and the last three bytes of addr.
func derivedMAC(addr netip.Addr) net.HardwareAddr {
	a := addr.As16()
	return net.HardwareAddr{0x02, 0x70, 0x6b, a[13], a[14], a[15]}
}

// labOwners says who in the lab holds each address and MAC: every node's kernel, on
// every interface, as the kernel reports them now.
type labOwners struct {
	addrs map[netip.Addr]string
	macs  map[string]string
}

func lookupOwners(l *testlab.Lab) labOwners {
	o := labOwners{addrs: map[netip.Addr]string{}, macs: map[string]string{}}
	for _, n := range l.Nodes() {
		for _, it := range n.Interfaces() {
			who := fmt.Sprintf("node %s's kernel (%s)", n.Name(), it.Name)
			for _, p := range it.Addrs {
				o.addrs[p.Addr()] = who
			}
			if len(it.MAC) > 0 {
				o.macs[it.MAC.String()] = who
			}
		}
	}
	return o
}

// claims are the host's hold on its addresses and MAC while it runs: one listening
// abstract unix socket per address and one for the MAC, named
// pktlab-userspace/LAB/…, in the network namespace of the lab's first node. Abstract
// socket names belong to a network namespace (unix(7)), so two hosts of one lab
// cannot both bind one name, in one process or in two; and the kernel drops a name
// when its socket closes, however the process ends, so a killed pktlab leaves nothing
// behind.
type claims struct{ fds []int }

func (c *claims) release() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
}

// claimName is the abstract socket name for one address or MAC of lab l.
func claimName(l *testlab.Lab, what string) string {
	return "@pktlab-userspace/" + l.Name() + "/" + what
}

// claim binds the name for what in n's namespace; it returns ErrAddrInUse, with the
// holder's pid and command when the kernel tells them, if another host holds it.
func (c *claims) claim(n *testlab.Node, name string) error {
	var fd int
	err := n.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return os.NewSyscallError("socket", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
			unix.Close(fd)
			if errors.Is(err, unix.EADDRINUSE) {
				return fmt.Errorf("another userspace host%s has it: %w", holder(name), ErrAddrInUse)
			}
			return os.NewSyscallError("bind", err)
		}
		if err := unix.Listen(fd, 4); err != nil { // so that holder can ask who we are
			unix.Close(fd)
			return os.NewSyscallError("listen", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.fds = append(c.fds, fd)
	return nil
}

// holder names the process that holds an abstract socket name, as " (pid N, cmd)",
// by connecting to it and asking SO_PEERCRED (unix(7)); "" if it cannot tell. It runs
// in the namespace of the name.
func holder(name string) string {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		return ""
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Pid == 0 {
		return ""
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cred.Pid))
	if s := strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")); s != "" {
		return fmt.Sprintf(" (pid %d: %s)", cred.Pid, s)
	}
	return fmt.Sprintf(" (pid %d)", cred.Pid)
}

// claimAll claims every address and the MAC, or none: it returns the first clash.
func claimAll(l *testlab.Lab, addrs []netip.Prefix, mac net.HardwareAddr, owners labOwners) (*claims, error) {
	for _, p := range addrs {
		if who, ok := owners.addrs[p.Addr()]; ok {
			return nil, fmt.Errorf("%v: %s has it: %w", p.Addr(), who, ErrAddrInUse)
		}
	}
	if who, ok := owners.macs[mac.String()]; ok {
		return nil, fmt.Errorf("MAC %v: %s has it: %w", mac, who, ErrAddrInUse)
	}
	nodes := l.Nodes()
	if len(nodes) == 0 {
		return nil, fmt.Errorf("lab %s has no node", l.Name())
	}
	c := &claims{}
	for _, p := range addrs {
		if err := c.claim(nodes[0], claimName(l, p.Addr().String())); err != nil {
			c.release()
			return nil, fmt.Errorf("%v: %w", p.Addr(), err)
		}
	}
	if err := c.claim(nodes[0], claimName(l, "mac/"+mac.String())); err != nil {
		c.release()
		return nil, fmt.Errorf("MAC %v: %w", mac, err)
	}
	return c, nil
}

// ownAddresses picks and claims the host's addresses and MAC in own-address mode:
// those of the Config, checked; or, when it gives none, the first free set of
// defaults derived from the interface's addresses (see ownOffset4).
func (h *Host) ownAddresses() error {
	l := h.node.Lab()
	owners := lookupOwners(l)
	mac := h.cfg.MAC
	if len(h.cfg.Addrs) > 0 {
		if mac == nil {
			mac = derivedMAC(h.cfg.Addrs[0].Addr())
		}
		c, err := claimAll(l, h.cfg.Addrs, mac, owners)
		if err != nil {
			return fmt.Errorf("tcpstate/host: own address on %s:%s: %w; pick another address (Config.Addrs, pktlab tcp --src)", h.node.Name(), h.iface.Name, err)
		}
		h.addrs, h.mac, h.claims = h.cfg.Addrs, mac, c
		return nil
	}
	var kernel []netip.Prefix
	for _, p := range h.iface.Addrs {
		if testlab.InLabRange(p.Addr()) {
			kernel = append(kernel, p)
		}
	}
	if len(kernel) == 0 {
		return fmt.Errorf("tcpstate/host: %s:%s has no lab address to derive the host's own from: give the host addresses (Config.Addrs, pktlab tcp --src)", h.node.Name(), h.iface.Name)
	}
	var last error
	for try := range uint64(ownTries) {
		var addrs []netip.Prefix
		for _, p := range kernel {
			off := ownOffset4 + try
			if p.Addr().Is6() {
				off = ownOffset6 + try
			}
			if a, ok := offsetAddr(p, p.Addr(), off); ok {
				addrs = append(addrs, netip.PrefixFrom(a, p.Bits()))
			}
		}
		if len(addrs) == 0 {
			break
		}
		m := mac
		if m == nil {
			m = derivedMAC(addrs[0].Addr())
		}
		c, err := claimAll(l, addrs, m, owners)
		if err == nil {
			h.addrs, h.mac, h.claims = addrs, m, c
			return nil
		}
		if !errors.Is(err, ErrAddrInUse) {
			return fmt.Errorf("tcpstate/host: own address on %s:%s: %w", h.node.Name(), h.iface.Name, err)
		}
		last = err
	}
	return fmt.Errorf("tcpstate/host: no free own address on %s:%s near %v (last tried: %v); give the host addresses (Config.Addrs, pktlab tcp --src)", h.node.Name(), h.iface.Name, kernel, last)
}
