package header

import "encoding/binary"

// UDP is a UDP header and its datagram (RFC 768).
type UDP []byte

// UDPLen is the length of a UDP header.
const UDPLen = 8

var (
	errUDPShort  = truncated("UDP", "header shorter than 8 bytes")
	errUDPLength = truncated("UDP", "length runs past the frame")
	errUDPBelow  = malformed("UDP", "length below 8")
)

// ParseUDP returns a view of the UDP datagram at the start of b, as long as its
// Length field says (a Length of 0, a jumbogram's, reaches to the end of b). When
// the Length runs past b, it returns the view of the bytes there are with an error
// wrapping ErrTruncated.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPLen {
		return nil, errUDPShort
	}
	switch l := int(binary.BigEndian.Uint16(b[4:6])); {
	case l == 0:
		return UDP(b), nil
	case l < UDPLen:
		return nil, errUDPBelow
	case l > len(b):
		return UDP(b), errUDPLength
	default:
		return UDP(b[:l]), nil
	}
}

// SrcPort is the Source Port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort is the Destination Port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length is the Length field: header and data.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:6]) }

// Checksum is the Checksum field.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// Payload is the data, as far as Length reaches into the bytes there are.
func (u UDP) Payload() []byte { return u[UDPLen:] }
