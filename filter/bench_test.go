package filter

import (
	"fmt"
	"strings"
	"testing"
)

// rules10k is the same ruleset bench/nft.sh applies.
func rules10k() []byte {
	var b strings.Builder
	b.WriteString("table inet bench {\n  chain input {\n    type filter hook input priority filter; policy accept;\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "    ip saddr 198.18.%d.%d tcp dport %d counter accept\n", i/250, i%250+1, 1024+i%60000)
	}
	b.WriteString("  }\n}\n")
	return []byte(b.String())
}

func BenchmarkParse10k(b *testing.B) {
	src := rules10k()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Parse("bench.nft", src, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile10k(b *testing.B) {
	rs, err := Parse("bench.nft", rules10k(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonical10k(b *testing.B) {
	rs, err := Parse("bench.nft", rules10k(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonical(rs, nil); err != nil {
			b.Fatal(err)
		}
	}
}
