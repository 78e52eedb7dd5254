package rawsock

import (
	"encoding/binary"
	"testing"
)

// TestProtocolNetworkByteOrder is experiment A4 at unit level: the value packet(7)
// wants in socket(2) and sockaddr_ll.sll_protocol is htons(ETH_P_ALL), which a
// little-endian host reads as 768.
func TestProtocolNetworkByteOrder(t *testing.T) {
	little := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	tests := []struct {
		p          Protocol
		le, be     uint16
		wantString string
	}{
		{ProtoAll, 768, 3, "all"},
		{ProtoIPv4, 0x0008, 0x0800, "ip"},
		{ProtoARP, 0x0608, 0x0806, "arp"},
		{ProtoIPv6, 0xdd86, 0x86dd, "ip6"},
		{Protocol(0x88cc), 0xcc88, 0x88cc, "0x88cc"},
	}
	for _, tt := range tests {
		t.Run(tt.wantString, func(t *testing.T) {
			want := tt.be
			if little {
				want = tt.le
			}
			if got := tt.p.Network(); got != want {
				t.Errorf("%v.Network() = %d, want %d", tt.p, got, want)
			}
			if got := tt.p.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if p, err := ParseProtocol(tt.wantString); err != nil || p != tt.p {
				t.Errorf("ParseProtocol(%q) = %v, %v", tt.wantString, p, err)
			}
		})
	}
	if _, err := ParseProtocol("ipx"); err == nil {
		t.Error("ParseProtocol(ipx) succeeded")
	}
}
