//go:build linux

package rawsock

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"github.com/pktlab/pktlab/internal/enumname"
	"golang.org/x/sys/unix"
)

// PacketType is sll_pkttype: whom a received frame was addressed to
// (linux/if_packet.h).
type PacketType uint8

// Packet types (linux/if_packet.h).
const (
	PacketHost      PacketType = unix.PACKET_HOST      // to us
	PacketBroadcast PacketType = unix.PACKET_BROADCAST // to all
	PacketMulticast PacketType = unix.PACKET_MULTICAST // to a group
	PacketOtherHost PacketType = unix.PACKET_OTHERHOST // to someone else (promiscuous)
	PacketOutgoing  PacketType = unix.PACKET_OUTGOING  // sent by this host, looped back
)

var packetTypeNames = [...]string{
	PacketHost:      "host",
	PacketBroadcast: "broadcast",
	PacketMulticast: "multicast",
	PacketOtherHost: "otherhost",
	PacketOutgoing:  "outgoing",
}

func (t PacketType) String() string { return enumname.Name(t, packetTypeNames[:], "pkttype(%d)") }

// Frame is one received frame. Data aliases the buffer given to ReadFrame.
type Frame struct {
	Data     []byte     // the frame; from the network header on for a cooked socket
	Length   int        // length on the wire; more than len(Data) if the buffer was short
	Time     time.Time  // kernel receive time (SO_TIMESTAMPNS)
	Type     PacketType // sll_pkttype
	Protocol Protocol   // sll_protocol, the frame's EtherType
	HAType   uint16     // sll_hatype, ARPHRD_ETHER (1) on veth
	AddrLen  int        // sll_halen
	Addr     [8]byte    // sll_addr: the source link-layer address
}

// Truncated reports whether the buffer was too short for the frame.
func (f *Frame) Truncated() bool { return f.Length > len(f.Data) }

// ReadFrame waits for the next frame and reads it into buf, until ctx ends. A buffer
// of the interface MTU plus 14 bytes (raw) holds any frame; a shorter one truncates.
// It allocates nothing per frame.
func (c *Conn) ReadFrame(ctx context.Context, buf []byte) (Frame, error) {
	if len(buf) == 0 {
		return Frame{}, c.opError("read", errShortBuffer)
	}
	undo := withDeadline(ctx, c.pc.SetReadDeadline)
	defer undo()
	f, err := c.readFrame(buf)
	if err != nil {
		return Frame{}, c.opError("read", c.ioError(ctx, err))
	}
	return f, nil
}

// readFrame is ReadFrame without the context: a read deadline set elsewhere (as
// Capture does once for a whole capture) is what stops it.
func (c *Conn) readFrame(buf []byte) (Frame, error) {
	f, _, err := c.readFrameMode(buf, true)
	return f, err
}

// readFrameMode reads a frame; with wait false it returns ok false at once when no
// frame is queued instead of waiting for one.
func (c *Conn) readFrameMode(buf []byte, wait bool) (f Frame, ok bool, err error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.ring != nil {
		return c.ringRead(buf, wait)
	}
	if c.closed.Load() {
		return Frame{}, false, net.ErrClosed
	}
	c.iov.Base = &buf[0]
	c.iov.SetLen(len(buf))
	c.wouldBlock = false
	if wait {
		err = c.rc.Read(c.readFn)
	} else {
		err = c.rc.Read(c.readFnNoWait)
	}
	if err == nil {
		err = c.rerr
	}
	if err != nil || c.wouldBlock {
		return Frame{}, false, err
	}
	f = Frame{
		Data:     buf[:min(c.rn, len(buf))],
		Length:   c.rn,
		Type:     PacketType(c.sa.Pkttype),
		Protocol: Protocol(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&c.sa.Protocol))[:])),
		HAType:   c.sa.Hatype,
		AddrLen:  int(c.sa.Halen),
		Addr:     c.sa.Addr,
	}
	f.Time = c.timestamp()
	return f, true, nil
}

// recvmsgNoWait is recvmsg that reports an empty queue instead of waiting.
func (c *Conn) recvmsgNoWait(fd uintptr) bool {
	if !c.recvmsg(fd) {
		c.wouldBlock, c.rerr = true, nil
	}
	return true
}

// recvmsg is the syscall.RawConn read callback: one recvmsg(2) with MSG_TRUNC, so
// that the return value is the frame's full length (packet(7)).
func (c *Conn) recvmsg(fd uintptr) bool {
	c.msg.Namelen = uint32(unsafe.Sizeof(c.sa))
	c.msg.SetControllen(len(c.oob))
	c.msg.Flags = 0
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), unix.MSG_TRUNC)
	if errno == unix.EAGAIN {
		return false
	}
	c.rn, c.rerr = int(n), nil
	if errno != 0 {
		c.rn, c.rerr = 0, os.NewSyscallError("recvmsg", errno)
	}
	return true
}

// timestamp finds SCM_TIMESTAMPNS in the control data of the last recvmsg, without
// allocating (unix.ParseSocketControlMessage would).
func (c *Conn) timestamp() time.Time {
	oob := c.oob[:c.msg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS &&
			int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return time.Unix(ts.Unix())
		}
		oob = oob[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(oob)):]
	}
	return time.Now()
}

// WriteFrame sends a whole frame, link-layer header included, on a raw socket. The
// kernel sends it as is: no checksum or length is fixed. The frame's EtherType goes
// into sll_protocol, so that the kernel (and every capture on the interface) sees
// the protocol the frame carries rather than the one the socket was opened with.
func (c *Conn) WriteFrame(ctx context.Context, frame []byte) error {
	if c.cooked {
		return c.opError("write", errCookedWrite)
	}
	if len(frame) < 14 {
		return c.opError("write", errShortFrame)
	}
	sa := &unix.SockaddrLinklayer{
		Protocol: Protocol(binary.BigEndian.Uint16(frame[12:])).Network(),
		Ifindex:  c.ifindex,
		Halen:    6,
	}
	copy(sa.Addr[:], frame[:6])
	undo := withDeadline(ctx, c.pc.SetWriteDeadline)
	defer undo()
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), frame, 0, sa)
		return serr != unix.EAGAIN
	})
	if err == nil && serr != nil {
		err = os.NewSyscallError("sendto", serr)
	}
	if err != nil {
		return c.opError("write", c.ioError(ctx, err))
	}
	return nil
}

// WriteTo sends a packet without link-layer header on a cooked socket: the kernel
// builds the header to dst with the socket's protocol as EtherType.
func (c *Conn) WriteTo(ctx context.Context, pkt []byte, dst net.HardwareAddr) error {
	if !c.cooked {
		return c.opError("write", errRawWriteTo)
	}
	return c.write(ctx, pkt, dst)
}

func (c *Conn) write(ctx context.Context, b []byte, dst net.HardwareAddr) error {
	undo := withDeadline(ctx, c.pc.SetWriteDeadline)
	defer undo()
	if _, err := c.pc.WriteTo(b, &packet.Addr{HardwareAddr: dst}); err != nil {
		return c.opError("write", c.ioError(ctx, err))
	}
	return nil
}
