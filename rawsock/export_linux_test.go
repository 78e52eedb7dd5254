//go:build linux

package rawsock

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RecvMemoryInUse is the receive memory the open sockets of this process hold, for
// tests.
func RecvMemoryInUse() int {
	recvMem.mu.Lock()
	defer recvMem.mu.Unlock()
	return recvMem.used
}

// RingOf returns a Conn whose receive ring (one TPACKET_V3 block) holds frames laid
// out as the kernel lays them (linux/if_packet.h: tpacket_block_desc, then each
// tpacket3_hdr with its sockaddr_ll and the frame at tp_mac), handed to user space,
// so that a benchmark reads them through the ring reader of a real capture.
// RingRefill hands the block back full once it has been read.
func RingOf(frames [][]byte, at time.Time) *Conn {
	mem := make([]byte, ringBlockSize)
	bh := (*unix.TpacketHdrV1)(unsafe.Pointer(&mem[8]))
	first := (8 + int(unsafe.Sizeof(unix.TpacketHdrV1{})) + 15) &^ 15
	mac := (tpacket3Align + unix.SizeofSockaddrLinklayer + 15) &^ 15
	off := first
	for i, f := range frames {
		next := (mac + len(f) + 15) &^ 15
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&mem[off]))
		h.Sec, h.Nsec = uint32(at.Unix()), uint32(at.Nanosecond())
		h.Snaplen, h.Len, h.Mac = uint32(len(f)), uint32(len(f)), uint16(mac)
		if i < len(frames)-1 {
			h.Next_offset = uint32(next)
		}
		sa := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(&mem[off+tpacket3Align]))
		sa.Family, sa.Protocol, sa.Hatype, sa.Halen = unix.AF_PACKET, 0x0008, 1, 6 // ETH_P_IP in network order
		copy(mem[off+mac:], f)
		off += next
	}
	bh.Num_pkts, bh.Offset_to_first_pkt, bh.Blk_len = uint32(len(frames)), uint32(first), uint32(off)
	bh.Block_status = unix.TP_STATUS_USER
	return &Conn{ring: &rxRing{mem: mem, nr: 1}}
}

// RingRead reads the next frame of a RingOf ring, ok false once it is empty.
func (c *Conn) RingRead(buf []byte) (Frame, bool) {
	f, ok, _ := c.ringRead(buf, false)
	return f, ok
}

// RingRefill gives a RingOf ring its block back, as the kernel would fill it again.
func (c *Conn) RingRefill() {
	atomic.StoreUint32(&c.ring.blockHdr(0).Block_status, unix.TP_STATUS_USER)
}
