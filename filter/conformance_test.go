//go:build linux

package filter_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
			if diff := cmp.Diff(want, nft(t, fw, "list", "ruleset")); diff != "" {
				t.Errorf("nft list ruleset after pktlab apply differs from pktlab's canonical form (-want +got):\n%s", diff)
			}
			got, err := conn.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
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
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pktlab listing after nft -f (-want +got):\n%s", diff)
			}
			nft(t, fw, "flush", "ruleset")
		})
	}
}
