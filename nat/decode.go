package nat

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
)

// ctnetlink message types and attributes (include/uapi/linux/netfilter/
// nfnetlink_conntrack.h).
const (
	ctMsgNew    = 0
	ctMsgDelete = 2

	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaProtoinfo  = 4
	ctaTimeout    = 7
	ctaMark       = 8
	ctaZone       = 18

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaIPv6Src    = 3
	ctaIPv6Dst    = 4
	ctaProtoNum   = 1
	ctaProtoSport = 2
	ctaProtoDport = 3

	ctaProtoinfoTCP      = 1
	ctaProtoinfoTCPState = 1
)

// DecodeEntry decodes the attributes of a ctnetlink conntrack message (after the
// 4-byte nfgenmsg header).
func DecodeEntry(b []byte) (Entry, error) {
	var e Entry
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return e, fmt.Errorf("nat: decode conntrack entry: %w", err)
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleOrig:
			ad.Nested(func(nad *netlink.AttributeDecoder) error { return decodeTuple(nad, &e.Orig, &e.Proto) })
		case ctaTupleReply:
			ad.Nested(func(nad *netlink.AttributeDecoder) error { return decodeTuple(nad, &e.Reply, nil) })
		case ctaTimeout:
			e.Timeout = time.Duration(ad.Uint32()) * time.Second
		case ctaMark:
			e.Mark = ad.Uint32()
		case ctaZone:
			e.Zone = ad.Uint16()
		case ctaProtoinfo:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == ctaProtoinfoTCP {
						nad.Nested(func(tad *netlink.AttributeDecoder) error {
							for tad.Next() {
								if tad.Type() == ctaProtoinfoTCPState {
									e.State = tcpState(tad.Uint8())
								}
							}
							return nil
						})
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return e, fmt.Errorf("nat: decode conntrack entry: %w", err)
	}
	return e, nil
}

func decodeTuple(ad *netlink.AttributeDecoder, t *Tuple, proto *uint8) error {
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleIP:
			ad.Nested(func(iad *netlink.AttributeDecoder) error {
				for iad.Next() {
					a, _ := netip.AddrFromSlice(iad.Bytes())
					switch iad.Type() {
					case ctaIPv4Src, ctaIPv6Src:
						t.Src = a
					case ctaIPv4Dst, ctaIPv6Dst:
						t.Dst = a
					}
				}
				return nil
			})
		case ctaTupleProto:
			ad.Nested(func(pad *netlink.AttributeDecoder) error {
				pad.ByteOrder = binary.BigEndian
				for pad.Next() {
					switch pad.Type() {
					case ctaProtoNum:
						if proto != nil {
							*proto = pad.Uint8()
						}
					case ctaProtoSport:
						t.SrcPort = pad.Uint16()
					case ctaProtoDport:
						t.DstPort = pad.Uint16()
					}
				}
				return nil
			})
		}
	}
	return nil
}
