package nat

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pktlab/pktlab/filter"
)

func TestText(t *testing.T) {
	tests := []struct {
		name string
		fam  filter.Family
		ms   []Mapping
		want string
	}{
		{"snat and dnat", filter.FamilyIP, []Mapping{
			SNAT{OutIface: "eth1", To: netip.MustParseAddrPort("198.19.2.1:0")},
			DNAT{Proto: "tcp", Port: 8080, To: netip.MustParseAddrPort("198.19.2.2:80")},
		}, "table ip pktlab_nat {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 8080 dnat to 198.19.2.2:80\n\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname \"eth1\" snat to 198.19.2.1\n\t}\n}\n"},
		{"inet ipv6 with ports", filter.FamilyINet, []Mapping{
			SNAT{To: netip.MustParseAddrPort("[2001:db8:2::1]:1000"), Proto: "udp"},
			Redirect{Proto: "tcp", Port: 80, ToPort: 8080},
			Masquerade{OutIface: "eth2"},
			LoadBalance{Proto: "tcp", Port: 81, Backends: []netip.Addr{netip.MustParseAddr("2001:db8:2::2"), netip.MustParseAddr("2001:db8:2::3")}},
		}, "table inet pktlab_nat {\n\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\ttcp dport 80 redirect to :8080\n\t\ttcp dport 81 dnat ip6 to numgen inc mod 2 map { 0 : 2001:db8:2::2, 1 : 2001:db8:2::3 }\n\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tmeta l4proto udp snat ip6 to [2001:db8:2::1]:1000\n\t\toifname \"eth2\" masquerade\n\t}\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Text(tc.fam, "", tc.ms...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if _, err := filter.Parse("nat", []byte(got), nil); err != nil {
				t.Errorf("generated rules do not parse: %v", err)
			}
		})
	}
}

func TestTextErrors(t *testing.T) {
	tests := []struct {
		name string
		fam  filter.Family
		m    Mapping
		want string
	}{
		{"v6 in ip table", filter.FamilyIP, SNAT{To: netip.MustParseAddrPort("[2001:db8::1]:0")}, "nat: ip6 address 2001:db8::1 in a ip table"},
		{"port without proto", filter.FamilyIP, SNAT{To: netip.MustParseAddrPort("198.19.2.1:80")}, `nat: protocol "": want tcp or udp`},
		{"one backend", filter.FamilyIP, LoadBalance{Proto: "tcp", Port: 80, Backends: []netip.Addr{netip.MustParseAddr("198.19.2.2")}}, "nat: load balancing needs at least two backends"},
		{"no address", filter.FamilyIP, DNAT{Proto: "tcp", Port: 80}, "nat: no address given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Text(tc.fam, "", tc.m)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeEntry checks that the ctnetlink decoder never panics on any input.
func FuzzDecodeEntry(f *testing.F) {
	// A TCP entry: orig 198.18.1.2:40000 → 198.19.2.2:80, timeout 120, mark 7.
	f.Add([]byte{
		0x34, 0x00, 0x01, 0x80, // CTA_TUPLE_ORIG nested
		0x14, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 198, 18, 1, 2, 0x08, 0x00, 0x02, 0x00, 198, 19, 2, 2,
		0x1c, 0x00, 0x02, 0x80, 0x05, 0x00, 0x01, 0x00, 6, 0, 0, 0, 0x06, 0x00, 0x02, 0x00, 0x9c, 0x40, 0, 0, 0x06, 0x00, 0x03, 0x00, 0x00, 0x50, 0, 0,
		0x08, 0x00, 0x07, 0x00, 0, 0, 0, 120,
		0x08, 0x00, 0x08, 0x00, 0, 0, 0, 7,
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		DecodeEntry(b)
	})
}

func TestDecodeEntry(t *testing.T) {
	b := []byte{
		0x34, 0x00, 0x01, 0x80,
		0x14, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 198, 18, 1, 2, 0x08, 0x00, 0x02, 0x00, 198, 19, 2, 2,
		0x1c, 0x00, 0x02, 0x80, 0x05, 0x00, 0x01, 0x00, 6, 0, 0, 0, 0x06, 0x00, 0x02, 0x00, 0x9c, 0x40, 0, 0, 0x06, 0x00, 0x03, 0x00, 0x00, 0x50, 0, 0,
		0x08, 0x00, 0x07, 0x00, 0, 0, 0, 120,
		0x08, 0x00, 0x08, 0x00, 0, 0, 0, 7,
	}
	e, err := DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	want := "tcp  6 120 src=198.18.1.2 dst=198.19.2.2 sport=40000 dport=80 src=invalid IP dst=invalid IP sport=0 dport=0 mark=7"
	if diff := cmp.Diff(want, e.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
