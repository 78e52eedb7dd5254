package experiment

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/layers"
)

// craftStep is a craft step on line 7 whose mapping's first key is at column 32.
const craftStep = labOK + "steps: [{node: client, craft: {"

// TestParseCraftErrors checks each craft key's error for a bad value, with its exact
// position.
func TestParseCraftErrors(t *testing.T) {
	v4 := "src: 198.18.1.2, dst: 198.18.1.1, "
	v6 := "src: 2001:db8:1::2, dst: 2001:db8:1::1, "
	tests := []struct {
		name, craft string
		want        []string
	}{
		{"unknown key", v4 + "hops: 3, icmp: {}", []string{"x.yaml:7:66: unknown key \"hops\" in craft (known: src, dst, ttl, tos, id, df, ip_options, bad_ip_checksum, ip_length, via, src_mac, dst_mac, count, interval, tcp, udp, icmp)"}},
		{"mixed families", "src: 198.18.1.2, dst: 2001:db8:1::1, icmp: {}", []string{"x.yaml:7:31: craft needs src and dst of one family: both IPv4 or both IPv6"}},
		{"no transport", v4 + "ttl: 3", []string{"x.yaml:7:31: craft needs one of tcp, udp or icmp"}},
		{"tos", v4 + "tos: 256, icmp: {}", []string{"x.yaml:7:71: tos \"256\" must be an integer from 0 to 255"}},
		{"id", v4 + "id: x, icmp: {}", []string{"x.yaml:7:70: id \"x\" must be an integer from 0 to 65535"}},
		{"id in IPv6", v6 + "id: 5, icmp: {}", []string{"x.yaml:7:72: craft: id exists in IPv4 only; this craft sends IPv6 (dst 2001:db8:1::1)"}},
		{"df in IPv6", v6 + "df: true, icmp: {}", []string{"x.yaml:7:72: craft: df exists in IPv4 only"}},
		{"ip_options in IPv6", v6 + "ip_options: 1, icmp: {}", []string{"x.yaml:7:72: craft: ip_options exists in IPv4 only"}},
		{"bad_ip_checksum value", v4 + "bad_ip_checksum: maybe, via: eth0, icmp: {}", []string{"x.yaml:7:83: bad_ip_checksum \"maybe\" must be true or false"}},
		{"bad_ip_checksum without via", v4 + "bad_ip_checksum: true, icmp: {}", []string{"x.yaml:7:66: craft: bad_ip_checksum needs via: the interface to send an Ethernet frame from on a packet socket, which sends the header as written"}},
		{"ip_length value", v4 + "ip_length: 0, via: eth0, icmp: {}", []string{"x.yaml:7:77: ip_length \"0\" must be an integer from 1 to 65535"}},
		{"ip_length without via", v4 + "ip_length: 20, icmp: {}", []string{"x.yaml:7:66: craft: ip_length needs via:"}},
		{"via other node", v4 + "via: server:eth0, icmp: {}", []string{"x.yaml:7:71: via \"server:eth0\": a craft sends from its step's node client; write via: eth0 or via: client:eth0"}},
		{"via unknown iface", v4 + "via: client:eth9, icmp: {}", []string{"x.yaml:7:71: node client has no interface \"eth9\""}},
		{"via empty", v4 + "via: \"\", icmp: {}", []string{"x.yaml:7:71: via needs an interface of the node, like eth0"}},
		{"src_mac value", v4 + "via: eth0, src_mac: 02:00, icmp: {}", []string{"x.yaml:7:86: src_mac \"02:00\" must be an Ethernet MAC address, like 02:00:00:00:00:01"}},
		{"dst_mac value", v4 + "via: eth0, dst_mac: [1], icmp: {}", []string{"x.yaml:7:86: dst_mac must be a scalar, not a list"}},
		{"dst_mac without via", v4 + "dst_mac: 02:00:00:00:00:01, icmp: {}", []string{"x.yaml:7:66: craft: dst_mac needs via: the interface to send an Ethernet frame from on a packet socket"}},
		{"count", v4 + "count: 0, icmp: {}", []string{"x.yaml:7:73: count \"0\" must be an integer from 1 to 10000"}},
		{"interval", v4 + "count: 2, interval: 5, icmp: {}", []string{"x.yaml:7:86: interval \"5\" is not a duration"}},
		{"two transports", v4 + "tcp: {}, udp: {}", []string{"x.yaml:7:75: craft one transport: it has both tcp and udp"}},
		{"flags", v4 + "tcp: {flags: SA}", []string{"x.yaml:7:79: flags \"SA\": TCP flags are written as tcpdump does: S F R P U E W and . for ACK"}},
		{"urg_ptr", v4 + "tcp: {urg_ptr: 70000}", []string{"x.yaml:7:81: urg_ptr \"70000\" must be an integer from 0 to 65535"}},
		{"mss", v4 + "tcp: {mss: 0}", []string{"x.yaml:7:77: mss \"0\" must be an integer from 1 to 65535"}},
		{"wscale", v4 + "tcp: {wscale: -1}", []string{"x.yaml:7:80: wscale (shift count) \"-1\" must be an integer from 0 to 255"}},
		{"sackok", v4 + "tcp: {sackok: 1}", []string{"x.yaml:7:80: sackok \"1\" must be true or false"}},
		{"sack not pairs", v4 + "tcp: {sack: [1, 2]}", []string{"x.yaml:7:79: sack must be a list of [LEFT, RIGHT] blocks, like [[1001, 2001]]"}},
		{"sack bad edge", v4 + "tcp: {sack: [[1, x]]}", []string{"x.yaml:7:83: sack must be a list of [LEFT, RIGHT] blocks"}},
		{"sack five blocks", v4 + "tcp: {sack: [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]}", []string{"x.yaml:7:78: sack must be a list of [LEFT, RIGHT] blocks"}},
		{"ts one value", v4 + "tcp: {ts: [100]}", []string{"x.yaml:7:76: ts must be [VAL, ECR], like [100, 0]"}},
		{"ts too big", v4 + "tcp: {ts: [4294967296, 0]}", []string{"x.yaml:7:77: ts must be [VAL, ECR], like [100, 0]"}},
		{"tcp_option", v4 + "tcp: {tcp_option: [\"253:0102\", \"253:xyz\"]}", []string{"x.yaml:7:97: tcp_option \"253:xyz\" must be KIND:HEXDATA, like 253:0102 (kind 0-255, at most 38 data bytes)"}},
		{"tcp_option kind", v4 + "tcp: {tcp_option: 256:01}", []string{"x.yaml:7:84: tcp_option \"256:01\" must be KIND:HEXDATA"}},
		{"bad_checksum", v4 + "udp: {bad_checksum: yes please}", []string{"x.yaml:7:86: bad_checksum \"yes please\" must be true or false"}},
		{"data_offset", v4 + "tcp: {data_offset: 16}", []string{"x.yaml:7:85: data_offset (32-bit words) \"16\" must be an integer from 1 to 15"}},
		{"truncate_option value", v4 + "tcp: {mss: 1400, truncate_option: 2}", []string{"x.yaml:7:100: truncate_option \"2\" must be true or false"}},
		{"truncate_option without options", v4 + "tcp: {truncate_option: true}", []string{"x.yaml:7:71: truncate_option needs a TCP option with a length to truncate: give mss, wscale, sack, ts or tcp_option"}},
		{"udp_length", v4 + "udp: {udp_length: 70000}", []string{"x.yaml:7:84: udp_length \"70000\" must be an integer from 1 to 65535"}},
		{"udp has no mss", v4 + "udp: {mss: 1400}", []string{"x.yaml:7:72: unknown key \"mss\" in udp (known: sport, dport, data, size, bad_checksum, udp_length)"}},
		{"size", v4 + "udp: {size: -1}", []string{"x.yaml:7:78: size \"-1\" must be an integer from 0 to 65000"}},
		{"data and size", v4 + "udp: {data: x, size: 3}", []string{"x.yaml:7:81: udp: give data (text) or size (bytes), not both"}},
		{"mtu", v4 + "icmp: {type: 3, code: 4, mtu: 0}", []string{"x.yaml:7:96: mtu \"0\" must be an integer from 1 to 65535"}},
		{"mtu in IPv6", v6 + "icmp: {mtu: 1280}", []string{"x.yaml:7:31: craft: mtu makes an ICMPv4 fragmentation needed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("testdata/x.yaml", []byte(craftStep+tt.craft+"}}]\n"))
			if err == nil {
				t.Fatal("no error")
			}
			var got []string
			for i, e := range err.(ErrorList) {
				s := strings.Replace(e.Error(), "testdata/x.yaml", "x.yaml", 1)
				if i < len(tt.want) && strings.HasPrefix(s, tt.want[i]) {
					s = tt.want[i]
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseCraft checks that the keys land in the fields pktlab send's flags fill.
func TestParseCraft(t *testing.T) {
	src := labOK + `steps:
  - node: client
    craft:
      src: 2001:db8:1::2
      dst: 2001:db8:1::1
      ttl: 9
      tos: 0x20
      count: 3
      interval: 20ms
      tcp: {sport: 1, dport: 2, flags: SEW, seq: 7, urg_ptr: 5, mss: 1400, sackok: true, ts: [100, 0],
            sack: [[10, 20]], wscale: 7, tcp_option: "253:0102", size: 4, bad_checksum: true, data_offset: 15}
`
	f, err := Parse("testdata/x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Steps[0].Craft
	if !c.Dst.Is6() || c.TTL != 9 || c.TOS != 0x20 || c.Count != 3 || c.Interval.Milliseconds() != 20 {
		t.Errorf("IP fields: %+v", c)
	}
	if !c.SYN || !c.ECE || !c.CWR || c.ACK || c.Urgent != 5 || c.Seq != 7 || len(c.spec().Payload) != 4 {
		t.Errorf("TCP fields: %+v", c.CraftSpec)
	}
	if !c.Corrupt.BadChecksum || c.Corrupt.TCPDataOffset != 15 {
		t.Errorf("corruption: %+v", c.Corrupt)
	}
	var kinds []layers.TCPOptionKind
	for _, o := range c.TCPOptions {
		kinds = append(kinds, o.OptionType)
	}
	want := []layers.TCPOptionKind{2, 4, 8, 1, 1, 5, 1, 3, 253}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("TCP option kinds (-want +got):\n%s", diff)
	}
	pkt, err := c.Packet()
	if err != nil {
		t.Fatal(err)
	}
	if pkt[0]>>4 != 6 || pkt[7] != 9 || pkt[6] != byte(layers.IPProtocolTCP) {
		t.Errorf("IPv6 header % x", pkt[:40])
	}
	if off := pkt[40+12] >> 4; off != 15 {
		t.Errorf("TCP data offset = %d, want the corrupted 15", off)
	}
}
