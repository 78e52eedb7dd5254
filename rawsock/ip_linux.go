//go:build linux

package rawsock

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/mdlayher/socket"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/sys/unix"
)

// IPConn is a raw IP socket (raw(7)) in a lab node for sending crafted IPv4 or IPv6
// packets, header included, through the node's routing table: the kernel picks the
// egress interface and next hop and resolves its link-layer address, but sends the
// header as given (IPPROTO_RAW implies IP_HDRINCL; for AF_INET6 it implies
// IPV6_HDRINCL). On IPv4 the kernel still fills in a zero source address, a zero
// ID and the header checksum (raw(7)).
type IPConn struct {
	c    *socket.Conn
	v6   bool
	lab  string
	node string

	closeOnce sync.Once
	closeErr  error
}

// OpenIP opens a raw IPv4 (v6 false) or IPv6 socket inside node n.
func OpenIP(n *testlab.Node, v6 bool) (*IPConn, error) {
	c := &IPConn{v6: v6, lab: n.Lab().Name(), node: n.Name()}
	family, name := unix.AF_INET, "raw-ip4"
	if v6 {
		family, name = unix.AF_INET6, "raw-ip6"
	}
	err := n.Do(func() error {
		var err error
		c.c, err = socket.Socket(family, unix.SOCK_RAW, unix.IPPROTO_RAW, name, nil)
		return err
	})
	if err != nil {
		return nil, c.opError("open raw IP socket", err)
	}
	return c, nil
}

func (c *IPConn) opError(op string, err error) error {
	return &Error{Op: op, Lab: c.lab, Node: c.node, Err: err}
}

// WritePacket sends pkt, which starts with its IP header, towards dst. dst chooses
// the route; for IPv4 the kernel sends the header's own destination (raw(7)), so
// dst should equal it.
func (c *IPConn) WritePacket(ctx context.Context, pkt []byte, dst netip.Addr) error {
	var sa unix.Sockaddr
	switch {
	case c.v6 && dst.Is6() && !dst.Is4In6():
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
	case !c.v6 && dst.Is4():
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	default:
		return c.opError("write", errors.New("destination "+dst.String()+" is not of the socket's family"))
	}
	if err := c.c.Sendto(ctx, pkt, 0, sa); err != nil {
		return c.opError("write to "+dst.String(), err)
	}
	return nil
}

// Close closes the socket; it is safe to call twice.
func (c *IPConn) Close() error {
	c.closeOnce.Do(func() {
		if err := c.c.Close(); err != nil {
			c.closeErr = c.opError("close", err)
		}
	})
	return c.closeErr
}
