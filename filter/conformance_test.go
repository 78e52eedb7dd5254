//go:build linux

package filter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// oneNode is a lab with a node "fw" that has eth0 (towards "peer") and lo, enough for
// every conformance file.
const oneNode = `
nodes:
  fw:
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
  peer:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
links:
  - [fw:eth0, peer:eth0]
`

func nft(t *testing.T, n *testlab.Node, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Exec(ctx, append([]string{"nft"}, args...)...)
	if err != nil {
		t.Fatalf("nft %s in %s: %v\n%s", strings.Join(args, " "), n.Name(), err, out)
	}
	return string(out)
}

// liveCounter is a counter statement as listed, with whatever it counted.
var liveCounter = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// zeroCounters sets listed counters to zero unless want (the canonical form) holds
// counters with values of their own: the lab's IPv6 chatter (MLD reports for some
// seconds after the link comes up) can pass a counting rule in a base chain while a
// conformance file is applied, and the corpus is about form, not traffic. Counter
// values are asserted in the counter tests.
func zeroCounters(want, listing string) string {
	for _, c := range liveCounter.FindAllString(want, -1) {
		if c != "counter packets 0 bytes 0" {
			return listing
		}
	}
	return liveCounter.ReplaceAllString(listing, "counter packets 0 bytes 0")
}

// TestConformance checks every ruleset under testdata/conformance both ways against the
// real nft, inside a lab node:
//  1. applied by pktlab, `nft list ruleset` equals pktlab's canonical rendering;
//  2. applied by `nft -f`, pktlab's listing read back from the kernel equals the same.
func TestConformance(t *testing.T) {
	lab := labtest.Start(t, oneNode)
	fw := lab.Node("fw")
	conn, err := filter.ForNode(fw)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/conformance/*.nft")
	if len(files) < 40 {
		t.Fatalf("conformance corpus has %d files, want at least 40", len(files))
	}
	ctx := context.Background()
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".nft"), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := conn.ParseFor(file, src)
			if err != nil {
				t.Fatal(err)
			}
			ifs, err := conn.Interfaces()
			if err != nil {
				t.Fatal(err)
			}
			want, err := filter.Canonical(rs, ifs)
			if err != nil {
				t.Fatal(err)
			}

			// 1. pktlab applies, nft lists.
			nft(t, fw, "flush", "ruleset")
			if err := conn.Apply(ctx, rs); err != nil {
				t.Fatalf("apply: %v", err)
			}
			if diff := cmp.Diff(want, zeroCounters(want, nft(t, fw, "list", "ruleset"))); diff != "" {
				t.Errorf("nft list ruleset after pktlab apply differs from pktlab's canonical form (-want +got):\n%s", diff)
			}
			got, err := conn.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, zeroCounters(want, got)); diff != "" {
				t.Errorf("pktlab listing after pktlab apply (-want +got):\n%s", diff)
			}

			// 2. nft applies, pktlab lists.
			nft(t, fw, "flush", "ruleset")
			abs, _ := filepath.Abs(file)
			nft(t, fw, "-f", abs)
			got, err = conn.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, zeroCounters(want, got)); diff != "" {
				t.Errorf("pktlab listing after nft -f (-want +got):\n%s", diff)
			}
			nft(t, fw, "flush", "ruleset")
		})
	}
}

// BenchmarkApply10k applies the 10 000-rule file of bench/nft.sh in one batch inside
// a lab node, and reads every counter back.
func BenchmarkApply10k(b *testing.B) {
	lab := labtest.Start(b, oneNode)
	conn, err := filter.ForNode(lab.Node("fw"))
	if err != nil {
		b.Fatal(err)
	}
	var src strings.Builder
	src.WriteString("table inet bench {\n  chain input {\n    type filter hook input priority filter; policy accept;\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&src, "    ip saddr 198.18.%d.%d tcp dport %d counter accept\n", i/250, i%250+1, 1024+i%60000)
	}
	src.WriteString("  }\n}\n")
	rs, err := conn.ParseFor("bench.nft", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("apply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			if err := conn.FlushAll(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := conn.Apply(ctx, rs); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The counters benchmark reads the ruleset as applied, whether or not "apply" ran.
	if err := conn.FlushAll(ctx); err != nil {
		b.Fatal(err)
	}
	if err := conn.Apply(ctx, rs); err != nil {
		b.Fatal(err)
	}
	b.Run("counters", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows, err := conn.Counters(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(rows) != 10001 {
				b.Fatalf("%d counters, want 10001", len(rows))
			}
		}
	})
}

// TestApplyIsAtomic: a file the kernel rejects halfway (masquerade is only valid in
// postrouting) changes nothing in the node, even the valid table before the bad rule.
func TestApplyIsAtomic(t *testing.T) {
	lab := labtest.Start(t, oneNode)
	fw := lab.Node("fw")
	conn, err := filter.ForNode(fw)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := conn.ParseFor("bad.nft", []byte(`table ip good {
	chain c {
		type filter hook input priority filter; policy accept;
		counter
	}
}
table ip bad {
	chain c {
		type nat hook prerouting priority dstnat; policy accept;
		masquerade
	}
}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Apply(context.Background(), rs)
	if !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("apply: %v, want EOPNOTSUPP from the kernel", err)
	}
	if got := nft(t, fw, "list", "ruleset"); got != "" {
		t.Errorf("ruleset after a failed apply:\n%s\nwant nothing", got)
	}
}

// TestOpenRefusesHostNamespace: a Conn needs a lab namespace descriptor.
func TestOpenRefusesHostNamespace(t *testing.T) {
	for _, fd := range []int{0, -1} {
		if _, err := filter.Open(fd, "host"); !errors.Is(err, filter.ErrNoNamespace) {
			t.Errorf("Open(%d) = %v, want ErrNoNamespace", fd, err)
		}
	}
	if _, err := filter.ForNode(nil); !errors.Is(err, filter.ErrNoNamespace) {
		t.Errorf("ForNode(nil) = %v, want ErrNoNamespace", err)
	}
}
