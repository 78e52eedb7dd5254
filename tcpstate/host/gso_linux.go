package host

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/mdlayher/packet"
	"github.com/pktlab/pktlab/testlab"
	"golang.org/x/sys/unix"
)

// gsoMaxSegment is the payload of one multi-MSS segment handed to GSO: as much as
// fits in a 64 KB IP packet, as the kernel's own TSO/GSO segments.
const gsoMaxSegment = 65535 - 60 - 60

// Linux virtio_net_hdr fields (include/uapi/linux/virtio_net.h).
const (
	vnetHdrLen         = 10
	vnetFlagNeedsCsum  = 1
	vnetGSONone        = 0
	vnetGSOTCPv4       = 1
	vnetGSOTCPv6       = 4
	tcpChecksumOffset  = 16
	ethernetHeaderSize = 14
)

// gsoSocket is a send-only packet socket with PACKET_VNET_HDR (packet(7)): each
// frame carries a virtio_net_hdr, so a TCP frame of many MSS goes down in one
// sendto(2) and the kernel segments it (in software if the device has no TSO), as
// it does for its own sockets.
type gsoSocket struct {
	pc *packet.Conn
}

func openGSO(n *testlab.Node, iface string) (*gsoSocket, error) {
	s := &gsoSocket{}
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		// Protocol 0: the socket receives nothing (packet(7)).
		s.pc, err = packet.Listen(ifi, packet.Raw, 0, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tcpstate/host: open GSO packet socket on %s:%s: %w", n.Name(), iface, err)
	}
	rc, err := s.pc.SyscallConn()
	if err != nil {
		s.pc.Close()
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1)
	}); err != nil || serr != nil {
		s.pc.Close()
		return nil, fmt.Errorf("tcpstate/host: PACKET_VNET_HDR on %s:%s: %v %v", n.Name(), iface, err, serr)
	}
	return s, nil
}

// write sends an Ethernet frame holding one IPv4/IPv6 TCP segment; mss > 0 and a
// payload above it asks the kernel to segment it. buf must have vnetHdrLen bytes
// of room before frame (frame = buf[vnetHdrLen:]).
func (s *gsoSocket) write(buf []byte, ipHdrLen, tcpHdrLen, payload, mss int, v6 bool) error {
	hdr, frame := buf[:vnetHdrLen], buf[vnetHdrLen:]
	clear(hdr)
	if mss > 0 && payload > mss {
		csumStart := ethernetHeaderSize + ipHdrLen
		hdr[0] = vnetFlagNeedsCsum
		hdr[1] = vnetGSOTCPv4
		if v6 {
			hdr[1] = vnetGSOTCPv6
		}
		binary.LittleEndian.PutUint16(hdr[2:], uint16(csumStart+tcpHdrLen))
		binary.LittleEndian.PutUint16(hdr[4:], uint16(mss))
		binary.LittleEndian.PutUint16(hdr[6:], uint16(csumStart))
		binary.LittleEndian.PutUint16(hdr[8:], tcpChecksumOffset)
		// CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum; the
		// kernel adds the rest per segment (net/ipv4/tcp_offload.c).
		binary.BigEndian.PutUint16(frame[csumStart+tcpChecksumOffset:], pseudoSum(frame[ethernetHeaderSize:], v6, tcpHdrLen+payload))
	}
	_, err := s.pc.WriteTo(buf, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])})
	return err
}

// pseudoSum is the folded one's-complement sum of the TCP pseudo-header (RFC 9293
// §3.1 for IPv4, RFC 8200 §8.1 for IPv6), not complemented.
func pseudoSum(ip []byte, v6 bool, tcpLen int) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	if v6 {
		add(ip[8:40])
	} else {
		add(ip[12:20])
	}
	sum += uint32(unix.IPPROTO_TCP) + uint32(tcpLen>>16) + uint32(tcpLen&0xffff)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func (s *gsoSocket) close() error { return s.pc.Close() }
