package capfilter

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

func TestFilterMatch(t *testing.T) {
	byName := map[string][]byte{}
	for _, f := range baseCorpus(t) {
		byName[f.name] = f.data
	}
	tests := []struct {
		expr  string
		frame string
		want  bool
	}{
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "ipv4-tcp-syn", true},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "ipv4-tcp-synack", false},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "ipv4-tcp-443-options", true},
		{"tcp dst port 443", "ipv4-tcp-443-options", true}, // IHL 8: ports found via ldxb
		{"udp port 80", "ipv4-udp-frag-first", true},
		{"udp port 80", "ipv4-udp-frag-later", false},    // only first fragments
		{"udp port 53", "ipv6-frag-first-udp-53", false}, // no look past the fragment header
		{"udp", "ipv6-frag-first-udp-53", true},          // but "udp" does
		{"udp port 53", "ipv6-hbh-udp-53", false},
		{"host 198.18.1.3", "arp-request", true}, // ARP target protocol address
		{"ether broadcast", "arp-request", true},
		{"ether broadcast", "arp-reply", false},
		{"icmp6[icmp6type] = icmp6-neighborsolicit", "ipv6-icmp6-neighbor-solicit", true},
		{"vlan 100 and tcp port 80", "vlan100-ipv4-tcp", true},
		{"tcp port 80", "vlan100-ipv4-tcp", false},
		{"greater 1000", "ipv4-tcp-1500", true},
		{"less 1000", "ipv4-tcp-1500", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"/"+tt.frame, func(t *testing.T) {
			f, err := New(tt.expr, LinkTypeEthernet)
			if err != nil {
				t.Fatal(err)
			}
			data, ok := byName[tt.frame]
			if !ok {
				t.Fatalf("no corpus frame %q", tt.frame)
			}
			if got := f.Match(data); got != tt.want {
				t.Errorf("Filter(%q).Match(%s) = %v, want %v", tt.expr, tt.frame, got, tt.want)
			}
			got, err := Match(f.Instructions(), data)
			if err != nil || got != tt.want {
				t.Errorf("Match(%q, %s) = %v, %v, want %v", tt.expr, tt.frame, got, err, tt.want)
			}
			raw, err := bpf.Assemble(f.Instructions())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(raw, f.Raw()); diff != "" {
				t.Errorf("Raw() (-assembled +got):\n%s", diff)
			}
			if f.String() != tt.expr || f.LinkType() != LinkTypeEthernet {
				t.Errorf("String, LinkType = %q, %v", f.String(), f.LinkType())
			}
		})
	}
}

func TestEmptyExpressionMatchesAll(t *testing.T) {
	prog, err := Compile("  ", LinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bpf.Instruction{bpf.RetConstant{Val: Snaplen}}, prog); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMatchBadProgram(t *testing.T) {
	if _, err := Match([]bpf.Instruction{bpf.LoadConstant{Val: 1}}, []byte{1}); err == nil {
		t.Error("Match accepted a program that does not end in ret")
	}
	if _, err := Compile("tcp", LinkType(228)); err == nil || !strings.Contains(err.Error(), "unsupported link type") {
		t.Errorf("Compile with link type 228: %v", err)
	}
}

// TestLongJumps builds programs longer than a conditional jump can span (255) and
// checks they match the same frames as the short expression they are equivalent to
// on the corpus, and as tcpdump's program when tcpdump is installed.
func TestLongJumps(t *testing.T) {
	var parts []string
	for p := 2000; p < 2150; p++ {
		parts = append(parts, fmt.Sprintf("tcp port %d", p))
	}
	long := strings.Join(parts, " or ") + " or tcp port 80"
	prog, err := Compile(long, LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	jas := 0
	for _, in := range prog {
		if _, ok := in.(bpf.Jump); ok {
			jas++
		}
	}
	if len(prog) <= 255 || jas == 0 {
		t.Fatalf("program has %d instructions and %d ja: the test does not exercise long jumps", len(prog), jas)
	}
	short := MustCompile("tcp port 80", LinkTypeEthernet)
	frames := corpus(t)
	for _, f := range frames {
		want, err1 := Match(short, f.data)
		got, err2 := Match(prog, f.data)
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("%s: long program = %v (%v), tcp port 80 = %v (%v)", f.name, got, err2, want, err1)
		}
	}
	if _, err := exec.LookPath("tcpdump"); err == nil {
		tp := runTcpdump(t, long, LinkTypeEthernet)
		if tp.err != "" {
			t.Fatalf("tcpdump: %s", tp.err)
		}
		checkConformance(t, long, LinkTypeEthernet, frames, tp, "live tcpdump")
	}
}

func TestProgramTooLong(t *testing.T) {
	var parts []string
	for i := 0; i < 400; i++ {
		parts = append(parts, fmt.Sprintf("net 198.18.%d.0/24", i%256))
	}
	_, err := Compile(strings.Join(parts, " or net 198.19.0.0/16 and "), LinkTypeEthernet)
	if err == nil || !strings.Contains(err.Error(), "more than the kernel's limit of 4096") {
		t.Errorf("Compile(400 nets) error = %v, want the BPF_MAXINSNS error", err)
	}
}
