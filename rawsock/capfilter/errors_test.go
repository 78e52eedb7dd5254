package capfilter

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompileErrors checks that unsupported or wrong syntax fails with the 1-based
// position and the token at fault, and a message that says what to write instead.
func TestCompileErrors(t *testing.T) {
	const prim = `a primitive such as host, net, port, portrange, ip, ip6, arp, tcp, udp, icmp, icmp6, ether, vlan, less, greater, not or "("`
	tests := []struct {
		expr string
		lt   LinkType
		want SyntaxError
	}{
		{"tcp port 80 and foo", LinkTypeEthernet, SyntaxError{1, 17, "foo", `cannot use "foo": port names are not supported, write a number`}},
		{"host foo", LinkTypeEthernet, SyntaxError{1, 6, "foo", `cannot use "foo": host and network names are not supported, write an IPv4 or IPv6 address`}},
		{"tcp and gateway x", LinkTypeEthernet, SyntaxError{1, 9, "gateway", `unexpected token "gateway" (expected ` + prim + `)`}},
		{"inbound", LinkTypeEthernet, SyntaxError{1, 1, "inbound", `unexpected token "inbound" (expected ` + prim + `)`}},
		{"tcp and", LinkTypeEthernet, SyntaxError{1, 8, "", `unexpected end of expression (expected ` + prim + `)`}},
		{"tcp or 198.18.1.2", LinkTypeEthernet, SyntaxError{1, 8, "198.18.1.2", `unexpected address 198.18.1.2 (write host 198.18.1.2 or net 198.18.1.2)`}},
		{"ip port 80", LinkTypeEthernet, SyntaxError{1, 9, "80", `illegal qualifier of 'port': 'ip' (port applies to tcp, udp or sctp)`}},
		{"port 70000", LinkTypeEthernet, SyntaxError{1, 6, "70000", `illegal port number 70000 > 65535`}},
		{"port 1-1023", LinkTypeEthernet, SyntaxError{1, 6, "1-1023", `port takes one number: write portrange 1-1023 for a range`}},
		{"port http", LinkTypeEthernet, SyntaxError{1, 6, "http", `cannot use "http": port names are not supported, write a number`}},
		{"port 80 or 198.18.1.2", LinkTypeEthernet, SyntaxError{1, 12, "198.18.1.2", `unexpected token "198.18.1.2" (expected a port number)`}},
		{"host 198.18.1.0/24", LinkTypeEthernet, SyntaxError{1, 16, "/", `mask syntax is for networks only: write net 198.18.1.0/…`}},
		{"host 198.18.1.2 mask 255.0.0.0", LinkTypeEthernet, SyntaxError{1, 17, "mask", `mask syntax is for networks only: write net 198.18.1.2 mask …`}},
		{"net 198.18.1.2/24", LinkTypeEthernet, SyntaxError{1, 5, "198.18.1.2", `non-network bits set in "198.18.1.2" (/24)`}},
		{"net 198.18.0.0 mask 255.0.255.0", LinkTypeEthernet, SyntaxError{1, 21, "255.0.255.0", `netmask 255.0.255.0 is not contiguous`}},
		{"ip6 net 2001:db8::/129", LinkTypeEthernet, SyntaxError{1, 20, "129", `mask length 129 must be <= 128`}},
		{"tcp host 198.18.1.2", LinkTypeEthernet, SyntaxError{1, 10, "198.18.1.2", `'tcp' modifier applied to host 198.18.1.2 (use ip, arp or rarp, or none)`}},
		{"ip host 2001:db8::1", LinkTypeEthernet, SyntaxError{1, 9, "2001:db8::1", `'ip' modifier applied to IPv6 host 2001:db8::1 (use ip6 or none)`}},
		{"host 02:00:00:00:00:01", LinkTypeEthernet, SyntaxError{1, 6, "02:00:00:00:00:01", `ethernet address 02:00:00:00:00:01 used in a non-ether expression (write ether host 02:00:00:00:00:01)`}},
		{"ether host 198.18.1.2", LinkTypeEthernet, SyntaxError{1, 12, "198.18.1.2", `unexpected token "198.18.1.2" (expected a MAC address such as 02:00:00:00:00:01)`}},
		{"ether host 02:00:00:00:00:01", LinkTypeRaw, SyntaxError{1, 12, "02:00:00:00:00:01", `ether host needs an Ethernet header; frames of link type raw IP have none`}},
		{"vlan 100", LinkTypeRaw, SyntaxError{1, 1, "vlan", `vlan needs an Ethernet header; frames of link type raw IP have none (and the kernel strips VLAN tags before packet sockets see them)`}},
		{"vlan 5000", LinkTypeEthernet, SyntaxError{1, 6, "5000", `VLAN ID 5000 is larger than 4095`}},
		{"ether proto 100", LinkTypeEthernet, SyntaxError{1, 13, "100", `ether proto 100 is an IEEE 802.3 length, not an EtherType: 802.2 LLC protocols are not supported`}},
		{"ip broadcast", LinkTypeEthernet, SyntaxError{1, 4, "broadcast", `ip broadcast needs the interface's netmask, which a compiled filter does not know: use ip dst host ADDR`}},
		{"ether", LinkTypeEthernet, SyntaxError{1, 1, "ether", `"ether" needs a qualifier here (expected ether host, ether src, ether dst, ether proto, ether broadcast or ether[…])`}},
		{"tcp[0:3] = 1", LinkTypeEthernet, SyntaxError{1, 7, "3", `data size must be 1, 2, or 4, not 3`}},
		{"tcp[0] = 1 / 0", LinkTypeEthernet, SyntaxError{1, 12, "/", `division by zero`}},
		{"tcp[0] @ 1", LinkTypeEthernet, SyntaxError{1, 8, "@", `unexpected token "@" (expected a comparison: =, ==, !=, <, <=, >, >=)`}},
		{"len >", LinkTypeEthernet, SyntaxError{1, 6, "", `unexpected end of expression (expected a number, len, a name such as tcpflags, or proto[offset:size])`}},
		{"less", LinkTypeEthernet, SyntaxError{1, 5, "", `unexpected end of expression (expected a number)`}},
		{"host", LinkTypeEthernet, SyntaxError{1, 5, "", `unexpected end of expression (expected an IPv4 or IPv6 address)`}},
		{"(tcp", LinkTypeEthernet, SyntaxError{1, 5, "", `unexpected end of expression (expected ")")`}},
		{"tcp)", LinkTypeEthernet, SyntaxError{1, 4, ")", `unexpected token ")" (expected and, or or end of expression)`}},
		{"tcp 80", LinkTypeEthernet, SyntaxError{1, 5, "80", `unexpected token "80" (expected and, or or end of expression)`}},
		{"tcp port 80 and\n  udp port x1", LinkTypeEthernet, SyntaxError{2, 12, "x1", `cannot use "x1": port names are not supported, write a number`}},
		{"tcp or é", LinkTypeEthernet, SyntaxError{1, 8, "é", `unexpected token "é" (expected ` + prim + `)`}},
		{"tcp[0] ≥ 1", LinkTypeEthernet, SyntaxError{1, 8, "≥", `unexpected token "≥" (expected a comparison: =, ==, !=, <, <=, >, >=)`}},
		{`ip proto \esp`, LinkTypeEthernet, SyntaxError{1, 11, "esp", `unexpected token "esp" (expected an IP protocol name: icmp, igmp, tcp, udp or sctp, or a number)`}},
		{`ether proto \tcp`, LinkTypeEthernet, SyntaxError{1, 14, "tcp", `unexpected token "tcp" (expected an EtherType name: ip, ip6, arp or rarp, or a number)`}},
		{"src 198.18.0.0/16", LinkTypeEthernet, SyntaxError{1, 15, "/", `mask syntax is for networks only: write net 198.18.0.0/…`}},
	}
	for _, tt := range tests {
		t.Run(tt.lt.String()+"/"+tt.expr, func(t *testing.T) {
			prog, err := Compile(tt.expr, tt.lt)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile(%q) = %d instructions, %v; want *SyntaxError", tt.expr, len(prog), err)
			}
			if diff := cmp.Diff(tt.want, *se); diff != "" {
				t.Errorf("Compile(%q) error (-want +got):\n%s", tt.expr, diff)
			}
			if !IsSyntax(err) {
				t.Errorf("IsSyntax(%v) = false", err)
			}
		})
	}
}

func TestSyntaxErrorFormat(t *testing.T) {
	_, err := Compile("host 198.18.1.2 or foo bar", LinkTypeEthernet)
	const want = `capfilter: 1:20: cannot use "foo": host and network names are not supported, write an IPv4 or IPv6 address`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestRejectsAll(t *testing.T) {
	for _, tt := range []struct {
		expr string
		lt   LinkType
	}{
		{"arp", LinkTypeRaw},
		{"rarp or arp host 198.18.1.2", LinkTypeRaw},
		{"tcp and 1 = 0", LinkTypeEthernet},
		{"arp[6:2] = 1", LinkTypeRaw},
	} {
		_, err := Compile(tt.expr, tt.lt)
		var rej *RejectsAllError
		if !errors.As(err, &rej) || rej.Expr != tt.expr || rej.LinkType != tt.lt {
			t.Errorf("Compile(%q, %v) error = %v, want *RejectsAllError", tt.expr, tt.lt, err)
		}
	}
}
