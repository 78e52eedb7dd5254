package capfilter

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

var update = flag.Bool("update", false, "rewrite testdata/tcpdump-*.golden from the installed tcpdump")

// conformanceExprs are compiled by pktlab and by tcpdump; both programs must accept
// the same corpus frames. Expressions that tcpdump refuses must be refused too.
var conformanceExprs = []string{
	// Protocols.
	"", "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp",
	"icmp or icmp6", "ip6 and udp", "not tcp", "not arp and not ip6", "!(tcp or udp)",
	"ip proto 17", "ip6 proto 58", "proto 6", "ether proto 0x88cc",
	// Hosts and nets, IPv4 (which also matches ARP/RARP) and IPv6.
	"host 198.18.1.2", "src host 198.18.1.2", "dst host 198.18.1.2", "src 198.18.1.2",
	"host 198.18.1.2 or 198.18.1.3", "host 198.18.1.2 and not 198.19.2.2",
	"host 198.18.1.2 or 198.18.1.3 or 198.19.2.2", "ip host 198.18.1.3", "arp host 198.18.1.3",
	"ip src or dst host 198.19.2.2", "src and dst host 198.18.1.2",
	"host 2001:db8:1::2", "src host 2001:db8:2::2", "ip6 dst host 2001:db8:2::2",
	"host 2001:db8:1::2 or 2001:db8:2::2",
	"net 198.18.0.0/15", "net 198.19.0.0/16", "src net 198.18.1.0/24", "dst net 198.19",
	"net 198.18.0.0 mask 255.255.0.0", "net 2001:db8::/32", "net 2001:db8:1::/48",
	"src net 2001:db8:2::/64", "net 2001:db8:1::2/127",
	"ip multicast", "ip6 multicast",
	// Ports and port ranges.
	"port 80", "port 53", "src port 53", "dst port 53", "tcp port 80", "udp port 53",
	"tcp dst port 443", "sctp port 80", "port 80 or 443", "port 80 and (443 or 22)",
	"port (80 or 443)", "src or dst port 53", "src and dst port 5353", "not port 53",
	"portrange 1-1023", "tcp portrange 440-450", "udp dst portrange 50000-60000",
	"portrange 1024-65535", "portrange 80", "tcp and (port 80 or port 443)",
	// Ethernet.
	"ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:02",
	"ether dst ff:ff:ff:ff:ff:ff", "ether broadcast", "ether multicast", "broadcast",
	"multicast", "ether host 02:00:00:00:00:01 and not arp", "ether src or dst 02:00:00:00:00:02",
	// VLAN: shifts the offsets of what follows.
	"vlan", "vlan 100", "vlan and tcp port 80", "vlan 200 and ip6", "vlan 100 and host 198.18.1.2",
	"tcp or vlan and udp",
	// Lengths.
	"less 64", "greater 200", "len > 100", "len <= 60", "tcp and len > 500", "len - 14 > 40",
	// Byte and flag tests.
	"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[tcpflags] & tcp-syn != 0",
	"tcp[13] & 2 != 0 and tcp[13] & 16 != 0", "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
	"tcp[tcpflags] & (tcp-ece|tcp-cwr) == (tcp-ece|tcp-cwr)", "tcp[tcpflags] & tcp-urg != 0",
	"tcp[tcpflags] == tcp-syn|tcp-ack", "dst port 80 and tcp[tcpflags] & tcp-syn != 0",
	"icmp[icmptype] == icmp-echo", "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
	"icmp[icmptype] = icmp-unreach and icmp[icmpcode] = 4", "icmp[0] = 11",
	"icmp6[icmp6type] == icmp6-echo", "icmp6[icmp6type] = icmp6-neighborsolicit",
	"icmp6[icmp6type] < 128", "ip[6:2] & 0x1fff != 0", "ip[6] & 0x20 != 0", "ip[0] & 0xf > 5",
	"ip[8] <= 64", "ip[9] >= 17", "ip6[6] == 44", "ip6[40] == 128", "ip6[6] = 0 and ip6[40] = 58",
	"udp[0:2] == 53", "udp[8:2] > 0", "tcp[2:2] >= 80 and tcp[2:2] < 1024",
	"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x00010203", "ip[ip[0] & 0xf] = 0", "tcp[tcp[12] >> 4] = 6",
	"ether[0] & 1 = 1", "ether[12:2] = 0x86dd", "arp[6:2] = 1", "(tcp[0] + 1) * 2 > 100",
	"tcp[0:2] - 1 == 39999", "ip[2:2] / 4 > 10", "ip[2:2] % 7 = 3", "tcp[13] ^ 0x12 = 0",
	"tcp[12] >> 4 = 5", "tcp[13] << 1 == 4", "ip[2:2] > ip[8] * 2", "tcp[0:4] & 0xffff = 80",
	"1 = 1", "udp[8:2] = 0x0001", "igmp or ip multicast", "link[0] = 2",
	"net 198", "ip6 src net 2001:db8:1::/64 and tcp", "ether proto 0x0806",
	"arp and ether src 02:00:00:00:00:02", "not ip and not ip6", "udp and (src port 53 or dst port 53)",
	"icmp[icmptype] = icmp-timxceed", "ip[2:2] >= 1000", "ip6[4:2] > 20", "greater 1514", "len >= 1514",
	"ip6 and not ip6[6] == 6", `ip proto \tcp`, `ether proto \arp`, `proto \udp`, `ether proto \ip6`,
	`ip6 proto \icmp`, "tcp src portrange 22-80 and not src port 22",
	// Precedence: and/or are equal and left associative; not binds tightest.
	"tcp or udp and not port 53", "host 198.18.1.2 and (tcp or icmp)",
	"udp port 53 or icmp6 and src net 2001:db8:1::/48", "not tcp or not ip6 and udp",
	"tcp and not (port 80 or port 22) or arp",
	// Rejects everything.
	"ip and ip6", "tcp port 80 and 1 = 0",
	// Refused by tcpdump too.
	"tcp or 198.18.1.2", "ip port 80", "host 198.18.1.0/24", "net 198.18.1.2/24",
	"tcp host 198.18.1.2", "tcp[0:3] = 1", "port 70000", "host 02:00:00:00:00:01",
	"ip6 host 198.18.1.2", "ip host 2001:db8::1", "198.18.1.2", "tcp and", "host", "ip6 net 2001:db8::/129",
	"tcp 80", "(tcp", "tcp[0] = 1 / 0", "tcp)", "src 198.18.0.0/16", "port 80 or 198.18.1.2",
	"ether host 198.18.1.2",
}

func TestConformance(t *testing.T) {
	live := tcpdumpAvailable(t)
	if *update && !live {
		t.Fatal("-update needs tcpdump installed")
	}
	frames := corpus(t)
	for _, lt := range []LinkType{LinkTypeEthernet, LinkTypeRaw} {
		fs := frames
		if lt == LinkTypeRaw {
			fs = rawCorpus(frames)
		}
		if *update {
			var progs []tcpdumpProg
			for _, e := range conformanceExprs {
				progs = append(progs, runTcpdump(t, e, lt))
			}
			if err := writeGolden(goldenPath(lt), progs); err != nil {
				t.Fatal(err)
			}
		}
		golden, err := readGolden(goldenPath(lt))
		if err != nil {
			t.Fatalf("read golden (regenerate with -update): %v", err)
		}
		for _, e := range conformanceExprs {
			t.Run(dltName(lt)+"/"+e, func(t *testing.T) {
				g, ok := golden[e]
				if !ok {
					t.Fatalf("no golden program for %q in %s: run with -update", e, goldenPath(lt))
				}
				checkConformance(t, e, lt, fs, g, "golden")
				if live {
					checkConformance(t, e, lt, fs, runTcpdump(t, e, lt), "live tcpdump")
				}
			})
		}
	}
}

// checkConformance compiles e and compares, frame by frame, with tcpdump's program.
func checkConformance(t *testing.T, e string, lt LinkType, fs []frame, ref tcpdumpProg, src string) {
	t.Helper()
	mine, err := Compile(e, lt)
	rejectsAll := strings.Contains(ref.err, "rejects all packets")
	if ref.err != "" && !(rejectsAll && err == nil) {
		var rej *RejectsAllError
		if rejectsAll && errors.As(err, &rej) {
			return
		}
		if err == nil {
			t.Fatalf("Compile(%q, %v) succeeded, but %s refuses it: %s", e, lt, src, ref.err)
		}
		if !IsSyntax(err) && !errors.As(err, &rej) {
			t.Fatalf("Compile(%q, %v) error %v is neither *SyntaxError nor *RejectsAllError", e, lt, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Compile(%q, %v): %v; %s compiles it", e, lt, err, src)
	}
	if rejectsAll {
		// tcpdump proved it matches nothing; pktlab did not, so check it accepts nothing.
		ref.prog = []bpf.RawInstruction{{Op: 0x06, K: 0}} // ret #0
	}
	refIns, ok := bpf.Disassemble(ref.prog)
	if !ok {
		t.Fatalf("%s program for %q has instructions x/net/bpf cannot run", src, e)
	}
	refVM, err := bpf.NewVM(refIns)
	if err != nil {
		t.Fatalf("%s program: %v", src, err)
	}
	vm, err := bpf.NewVM(mine)
	if err != nil {
		t.Fatalf("pktlab program: %v", err)
	}
	var want, got []string
	for _, f := range fs {
		r, err := refVM.Run(f.data)
		if err != nil {
			t.Fatalf("%s program on %s: %v", src, f.name, err)
		}
		m, err := vm.Run(f.data)
		if err != nil {
			t.Fatalf("pktlab program on %s: %v", f.name, err)
		}
		if r != 0 {
			want = append(want, f.name)
		}
		if m != 0 {
			got = append(got, f.name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%q on %v: accepted frames differ from %s (-want +got):\n%s", e, lt, src, diff)
	}
}
