//go:build linux

package rawsock

import (
	"encoding/binary"
	"errors"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring geometry (Documentation/networking/packet_mmap.rst): blocks of 256 KiB, each
// holding variable-size frames (TPACKET_V3), retired to user space when full or after
// ringRetire, whichever comes first. Small blocks and a retire time of tens of ms keep
// many blocks in reserve at modest rates, where a block leaves part-filled; Capture's
// MergeWindow must exceed ringRetire, since a frame can wait that long in its block.
const (
	ringBlockSize = 256 << 10
	ringFrameSize = 2048
	ringRetire    = 50 // ms
	// tpacket3Align is TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): where the
	// sockaddr_ll describing a frame starts after its header.
	tpacket3Align = (unix.SizeofTpacket3Hdr + 15) &^ 15
)

// rxRing is a TPACKET_V3 receive ring shared with the kernel: frames arrive without a
// system call each, as with tcpdump. Guarded by Conn.readMu.
type rxRing struct {
	mem  []byte
	nr   int  // blocks
	cur  int  // block being read
	held bool // cur belongs to user space and goes back to the kernel when done
	left int  // frames of cur not read yet
	off  int  // offset in cur of the next frame
}

// blockHdr returns the header of block i (struct tpacket_hdr_v1 after the version
// and private-offset words of struct tpacket_block_desc).
func (r *rxRing) blockHdr(i int) *unix.TpacketHdrV1 {
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&r.mem[i*ringBlockSize+8]))
}

func (r *rxRing) ready(i int) bool {
	return atomic.LoadUint32(&r.blockHdr(i).Block_status)&unix.TP_STATUS_USER != 0
}

// setupRing maps a receive ring of about size bytes (PACKET_VERSION TPACKET_V3, then
// PACKET_RX_RING, packet(7)). The caller has reserved size with reserveRing.
func (c *Conn) setupRing(size int) error {
	nr := ringBlocks(size)
	req := unix.TpacketReq3{
		Block_size:     ringBlockSize,
		Block_nr:       uint32(nr),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(nr * ringBlockSize / ringFrameSize),
		Retire_blk_tov: ringRetire,
	}
	var mem []byte
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); serr != nil {
			return
		}
		if serr = unix.SetsockoptTpacketReq3(int(fd), unix.SOL_PACKET, unix.PACKET_RX_RING, &req); serr != nil {
			return
		}
		mem, serr = unix.Mmap(int(fd), 0, nr*ringBlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	})
	if err = errors.Join(err, serr); err != nil {
		return c.opError("set up PACKET_RX_RING", os.NewSyscallError("setsockopt/mmap", err))
	}
	c.ring = &rxRing{mem: mem, nr: nr}
	return nil
}

// ringRead returns the next frame of the ring, copied into buf. With wait false it
// returns ok false when no block is ready.
func (c *Conn) ringRead(buf []byte, wait bool) (Frame, bool, error) {
	r := c.ring
	for {
		if r.left > 0 {
			base := r.cur*ringBlockSize + r.off
			h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[base]))
			sa := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&r.mem[base+tpacket3Align]))
			data := r.mem[base+int(h.Mac) : base+int(h.Mac)+int(h.Snaplen)]
			n := copy(buf, data)
			f := Frame{
				Data:     buf[:n],
				Length:   int(h.Len),
				Time:     time.Unix(int64(h.Sec), int64(h.Nsec)),
				Type:     PacketType(sa.Pkttype),
				Protocol: Protocol(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Protocol))[:])),
				HAType:   sa.Hatype,
				AddrLen:  int(sa.Halen),
				Addr:     sa.Addr,
			}
			r.left--
			r.off += int(h.Next_offset)
			return f, true, nil
		}
		if r.held {
			// Hand the block back (status TP_STATUS_KERNEL) and move to the next.
			atomic.StoreUint32(&r.blockHdr(r.cur).Block_status, unix.TP_STATUS_KERNEL)
			r.held = false
			r.cur = (r.cur + 1) % r.nr
		}
		if r.ready(r.cur) {
			bh := r.blockHdr(r.cur)
			r.held, r.left, r.off = true, int(bh.Num_pkts), int(bh.Offset_to_first_pkt)
			continue
		}
		if !wait {
			return Frame{}, false, nil
		}
		// The socket polls readable when a block is retired to user space.
		if err := c.rc.Read(func(uintptr) bool { return r.ready(r.cur) }); err != nil {
			return Frame{}, false, err
		}
	}
}

// pending reports whether the block the kernel is filling already holds frames: they
// reach user space only when the block is retired, up to ringRetire ms later.
func (r *rxRing) pending() bool {
	return !r.ready(r.cur) && atomic.LoadUint32(&r.blockHdr(r.cur).Num_pkts) > 0
}

// drain passes fn the frames still in the ring, including those of a part-filled
// block, for which it waits until the kernel retires the block (at most a few
// ringRetire periods). Capture calls it when stopped, so that a Ctrl-C right after
// traffic still shows that traffic, as tcpdump does.
func (c *Conn) drain(buf []byte, fn func(Frame)) error {
	if c.ring == nil {
		return nil
	}
	c.pc.SetReadDeadline(time.Now().Add(3 * ringRetire * time.Millisecond))
	defer c.pc.SetReadDeadline(time.Time{})
	for {
		c.readMu.Lock()
		f, ok, err := c.ringRead(buf, false)
		pending := c.ring.pending()
		if !ok && err == nil && pending {
			f, ok, err = c.ringRead(buf, true)
		}
		c.readMu.Unlock()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case err != nil:
			return err
		case !ok:
			return nil
		}
		fn(f)
	}
}
