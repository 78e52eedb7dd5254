package rawsock

import (
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		ProtoAll: "all", ProtoIPv4: "ip", ProtoARP: "arp", ProtoIPv6: "ip6", Protocol(0): "0x0000", Protocol(0x88cc): "0x88cc",
		PacketHost: "host", PacketBroadcast: "broadcast", PacketMulticast: "multicast", PacketOtherHost: "otherhost",
		PacketOutgoing: "outgoing", PacketType(5): "pkttype(5)", PacketType(255): "pkttype(255)",
	})
}
