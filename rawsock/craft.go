package rawsock

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Corruption asks Serialize to break a frame on purpose after computing correct
// lengths and checksums. The zero value breaks nothing.
type Corruption struct {
	// BadIPChecksum inverts the IPv4 header checksum.
	BadIPChecksum bool
	// BadChecksum inverts the TCP, UDP, ICMP or ICMPv6 checksum.
	BadChecksum bool
	// IPLength, when non-zero, replaces the IPv4 total length or the IPv6 payload
	// length.
	IPLength int
	// UDPLength, when non-zero, replaces the UDP length.
	UDPLength int
	// TCPDataOffset, when non-zero, replaces the TCP data offset (in 32-bit words,
	// 0–15).
	TCPDataOffset int
	// TruncateTCPOption makes the last TCP option's length byte claim two bytes more
	// than the option has, so that it runs past the header (RFC 9293 §3.1 says a
	// receiver must handle such an option without crashing).
	TruncateTCPOption bool
}

// Serialize lays ls out in order (e.g. Ethernet, IPv4, TCP, Payload) with lengths and
// checksums fixed, the transport checksum computed over the IP layer before it, and
// then applies c (nil: none).
func Serialize(c *Corruption, ls ...gopacket.SerializableLayer) ([]byte, error) {
	var net gopacket.NetworkLayer
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			net = v
		case *layers.IPv6:
			net = v
		case interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}:
			if net == nil {
				return nil, fmt.Errorf("rawsock: craft: %v needs an IP layer before it for its checksum", l.LayerType())
			}
			if err := v.SetNetworkLayerForChecksum(net); err != nil {
				return nil, fmt.Errorf("rawsock: craft: %v checksum: %w", l.LayerType(), err)
			}
		}
	}
	// Serialize back to front like gopacket.SerializeLayers, breaking each layer
	// right after it is laid out, while the buffer starts at its header: outer
	// layers never recompute an inner checksum, and Ethernet's padding (appended
	// at the end) cannot shift what was patched.
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i := len(ls) - 1; i >= 0; i-- {
		if err := ls[i].SerializeTo(buf, opts); err != nil {
			return nil, fmt.Errorf("rawsock: craft %v: %w", ls[i].LayerType(), err)
		}
		if c != nil {
			if err := c.apply(ls[i].LayerType(), buf.Bytes()); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), nil
}

// apply breaks the fields of one layer, whose bytes start at h. A broken length,
// data offset or option keeps its checksum right, so that the receiver meets the
// broken field and not a checksum error; BadChecksum and BadIPChecksum, applied last,
// break the checksum itself.
func (c *Corruption) apply(t gopacket.LayerType, h []byte) error {
	be := binary.BigEndian
	switch t {
	case layers.LayerTypeIPv4:
		if c.IPLength != 0 {
			patch(h, 10, 2, func() { be.PutUint16(h[2:], uint16(c.IPLength)) })
		}
		if c.BadIPChecksum {
			be.PutUint16(h[10:], ^be.Uint16(h[10:]))
		}
	case layers.LayerTypeIPv6:
		if c.IPLength != 0 {
			be.PutUint16(h[4:], uint16(c.IPLength))
		}
	case layers.LayerTypeTCP:
		if c.TruncateTCPOption {
			if err := truncateLastOption(h); err != nil {
				return err
			}
		}
		if c.TCPDataOffset != 0 {
			patch(h, 16, 12, func() { h[12] = byte(c.TCPDataOffset)<<4 | h[12]&0x0f })
		}
		if c.BadChecksum {
			be.PutUint16(h[16:], ^be.Uint16(h[16:]))
		}
	case layers.LayerTypeUDP:
		if c.UDPLength != 0 {
			// The length is summed twice: in the header and in the pseudo-header. A
			// receiver that trims the datagram to a shorter length checksums fewer
			// bytes than were summed here, so only a longer length (dropped as a
			// short packet before any checksum) or the true one stays consistent.
			old := be.Uint16(h[4:])
			patch(h, 6, 4, func() { be.PutUint16(h[4:], uint16(c.UDPLength)) })
			if sum := be.Uint16(h[6:]); sum != 0 {
				be.PutUint16(h[6:], adjust(sum, old, uint16(c.UDPLength)))
			}
		}
		if c.BadChecksum {
			be.PutUint16(h[6:], ^be.Uint16(h[6:]))
		}
	case layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
		if c.BadChecksum {
			be.PutUint16(h[2:], ^be.Uint16(h[2:]))
		}
	}
	return nil
}

// patch runs set, which changes bytes of h within the 16-bit word holding offset
// off (and the one after), and updates the ones' complement checksum at csum for the
// change (RFC 1624, eqn. 3).
func patch(h []byte, csum, off int, set func()) {
	be := binary.BigEndian
	w := off &^ 1
	n := min(4, len(h)-w) &^ 1
	var before [2]uint16
	for i := 0; i < n/2; i++ {
		before[i] = be.Uint16(h[w+2*i:])
	}
	set()
	sum := be.Uint16(h[csum:])
	for i := 0; i < n/2; i++ {
		if w+2*i == csum {
			continue
		}
		sum = adjust(sum, before[i], be.Uint16(h[w+2*i:]))
	}
	be.PutUint16(h[csum:], sum)
}

// adjust returns checksum sum updated for a 16-bit word that changed from old to
// new: HC' = ~(~HC + ~m + m') (RFC 1624).
func adjust(sum, old, new uint16) uint16 {
	x := uint32(^sum) + uint32(^old) + uint32(new)
	for x>>16 != 0 {
		x = x&0xffff + x>>16
	}
	return ^uint16(x)
}

// truncateLastOption finds the last TCP option with a length byte and makes it claim
// two bytes more than it has, keeping the checksum right.
func truncateLastOption(h []byte) error {
	end := int(h[12]>>4) * 4
	last := -1
	for i := 20; i < end && i < len(h); {
		switch h[i] {
		case 0: // EOL
			i = end
		case 1: // NOP
			i++
		default:
			if i+1 >= end || h[i+1] < 2 {
				i = end
				continue
			}
			last = i
			i += int(h[i+1])
		}
	}
	if last < 0 {
		return fmt.Errorf("rawsock: craft: TruncateTCPOption needs a TCP option with a length (mss, wscale, sack, ts)")
	}
	patch(h, 16, last+1, func() { h[last+1] += 2 })
	return nil
}
