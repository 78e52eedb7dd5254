package capfilter

import (
	"testing"

	"golang.org/x/net/bpf"
)

// benchExprs are typical capture filters; each is in the conformance table, so the
// golden file holds tcpdump's program for it.
var benchExprs = []struct{ name, expr string }{
	{"tcp-port", "tcp port 80"},
	{"syn-only", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"},
	{"host-and-proto", "host 198.18.1.2 and (tcp or icmp)"},
	{"port-list", "port 80 and (443 or 22)"},
}

func BenchmarkCompile(b *testing.B) {
	for _, be := range benchExprs {
		b.Run(be.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Compile(be.expr, LinkTypeEthernet); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatch runs pktlab's program and tcpdump's program for the same
// expression in the x/net/bpf VM over a TCP SYN and a 1514-byte data frame.
func BenchmarkMatch(b *testing.B) {
	golden, err := readGolden(goldenPath(LinkTypeEthernet))
	if err != nil {
		b.Fatal(err)
	}
	frames := map[string][]byte{}
	for _, f := range baseCorpus(b) {
		frames[f.name] = f.data
	}
	for _, be := range benchExprs {
		mine := MustCompile(be.expr, LinkTypeEthernet)
		theirs, ok := bpf.Disassemble(golden[be.expr].prog)
		if !ok {
			b.Fatalf("%q: tcpdump program does not disassemble", be.expr)
		}
		for _, who := range []struct {
			name string
			prog []bpf.Instruction
		}{{"pktlab", mine}, {"tcpdump", theirs}} {
			vm, err := bpf.NewVM(who.prog)
			if err != nil {
				b.Fatal(err)
			}
			for _, fn := range []string{"ipv4-tcp-syn", "ipv4-tcp-1500"} {
				data := frames[fn]
				_, steps, err := runCounting(who.prog, data)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(be.name+"/"+fn+"/"+who.name, func(b *testing.B) {
					b.ReportAllocs()
					b.ReportMetric(float64(len(who.prog)), "insns")
					b.ReportMetric(float64(steps), "executed")
					b.SetBytes(int64(len(data)))
					for i := 0; i < b.N; i++ {
						if _, err := vm.Run(data); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkFilterMatch(b *testing.B) {
	f, err := New("tcp port 80", LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	data := baseCorpus(b)[3].data // ipv4-tcp-syn
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !f.Match(data) {
			b.Fatal("no match")
		}
	}
}
