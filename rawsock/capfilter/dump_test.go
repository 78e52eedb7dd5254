package capfilter

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

func TestDump(t *testing.T) {
	prog := MustCompile("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", LinkTypeEthernet)
	got, err := Dump(prog)
	if err != nil {
		t.Fatal(err)
	}
	// tcpdump -d -y EN10MB 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' (libpcap 1.10.3).
	want := "(000) ldh      [12]\n" +
		"(001) jeq      #0x800           jt 2\tjf 11\n" +
		"(002) ldb      [23]\n" +
		"(003) jeq      #0x6             jt 4\tjf 11\n" +
		"(004) ldh      [20]\n" +
		"(005) jset     #0x1fff          jt 11\tjf 6\n" +
		"(006) ldxb     4*([14]&0xf)\n" +
		"(007) ldb      [x + 27]\n" +
		"(008) and      #0x12\n" +
		"(009) jeq      #0x2             jt 10\tjf 11\n" +
		"(010) ret      #262144\n" +
		"(011) ret      #0\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dump (-tcpdump -d +got):\n%s", diff)
	}
	if _, err := Dump([]bpf.Instruction{bpf.LoadScratch{N: 99}}); err == nil {
		t.Error("Dump of an invalid program: no error")
	}
}

// TestDumpMatchesTcpdump formats every golden tcpdump program with DumpRaw and
// compares with what tcpdump -d prints for the same expression.
func TestDumpMatchesTcpdump(t *testing.T) {
	if !tcpdumpAvailable(t) {
		t.Skip("tcpdump not installed")
	}
	golden, err := readGolden(goldenPath(LinkTypeEthernet))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range conformanceExprs {
		g := golden[e]
		if g.err != "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "tcpdump", "-d", "-y", "EN10MB", e).Output()
		cancel()
		if err != nil {
			t.Fatalf("tcpdump -d %q: %v", e, err)
		}
		diff := cmp.Diff(string(bytes.TrimRight(out, "\n"))+"\n", DumpRaw(g.prog))
		if diff != "" && !cmp.Equal(runTcpdump(t, e, LinkTypeEthernet).prog, g.prog) {
			continue // another libpcap version: the golden program is not what it prints
		}
		if diff != "" {
			t.Errorf("%q: DumpRaw (-tcpdump -d +got):\n%s", e, diff)
		}
	}
}
