//go:build linux

package filter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"github.com/pktlab/pktlab/labtest"
)

// TestDumpRulesMatchesLibrary: for every ruleset of the conformance corpus, applied by
// nft, the rules dumpRules decodes (its own fast path included) are field for field
// what google/nftables' GetRules decodes, chain by chain, with the same handles.
func TestDumpRulesMatchesLibrary(t *testing.T) {
	// A quiet lab: with IPv6 off no MLD report passes a counting base chain between
	// the two dumps, so counter values must be equal too.
	lab := labtest.Start(t, `
nodes:
  fw:
    interfaces:
      eth0: [198.18.1.1/24]
    sysctls: {net.ipv6.conf.all.disable_ipv6: 1}
  peer:
    interfaces:
      eth0: [198.18.1.2/24]
    sysctls: {net.ipv6.conf.all.disable_ipv6: 1}
links:
  - [fw:eth0, peer:eth0]
`)
	fw := lab.Node("fw")
	c, err := ForNode(fw)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/conformance/*.nft")
	if len(files) < 40 {
		t.Fatalf("conformance corpus has %d files, want at least 40", len(files))
	}
	nft := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := fw.Exec(ctx, append([]string{"nft"}, args...)...); err != nil {
			t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Beyond the corpus, a chain long enough that its expressions span several slab
	// arrays and the dump several datagrams.
	var long strings.Builder
	long.WriteString("table inet long {\n\tchain sub {\n\t\tcounter\n\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n")
	for i := 0; i < 3000; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&long, "\t\tip saddr 198.18.%d.%d tcp dport %d counter accept\n", i/250, i%250+1, 1024+i)
		case 1:
			fmt.Fprintf(&long, "\t\tiifname \"eth0\" udp dport %d meta mark set 0x%x drop\n", 1024+i, i)
		case 2:
			fmt.Fprintf(&long, "\t\tip6 daddr 2001:db8::%x ct state established,related jump sub\n", i)
		case 3:
			fmt.Fprintf(&long, "\t\ttcp flags syn / syn,ack tcp dport { 22, %d } log prefix \"r%d \" reject with tcp reset\n", 1024+i, i)
		}
	}
	long.WriteString("\t}\n}\n")
	longFile := filepath.Join(t.TempDir(), "long.nft")
	if err := os.WriteFile(longFile, []byte(long.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fast := 0
	for _, file := range append(files, longFile) {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".nft"), func(t *testing.T) {
			nft("flush", "ruleset")
			abs, _ := filepath.Abs(file)
			nft("-f", abs)
			got, err := dumpRules(c.fd)
			if err != nil {
				t.Fatal(err)
			}
			chains, err := c.nft.ListChains()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ch := range chains {
				want, err := c.nft.GetRules(ch.Table, ch)
				if err != nil {
					t.Fatal(err)
				}
				key := chainKey(Family(ch.Table.Family), ch.Table.Name, ch.Name)
				mine := got[key]
				if len(mine) != len(want) {
					t.Errorf("%s: %d rules, library %d", key, len(mine), len(want))
					continue
				}
				for i, w := range want {
					n++
					if mine[i].Handle != w.Handle || !reflect.DeepEqual(normal(mine[i].Exprs), normal(w.Exprs)) {
						t.Errorf("%s rule %d:\n got handle %d %s\nwant handle %d %s", key, i, mine[i].Handle, dumpExprs(mine[i].Exprs), w.Handle, dumpExprs(w.Exprs))
					}
					for _, e := range mine[i].Exprs {
						if isFastType(e) {
							fast++
						}
					}
				}
			}
			if len(got) > len(chains) {
				t.Errorf("dump has rules of %d chains, nft lists %d chains", len(got), len(chains))
			}
		})
	}
	if fast < 100 {
		t.Errorf("%d expressions of the corpus are of the fast-path types, want the corpus to exercise them", fast)
	}
	nft("flush", "ruleset")
}

// normal makes empty and nil byte slices equal, as both decoders may leave either.
func normal(es []expr.Any) []expr.Any {
	out := make([]expr.Any, len(es))
	for i, e := range es {
		if c, ok := e.(*expr.Cmp); ok && len(c.Data) == 0 {
			cc := *c
			cc.Data = nil
			e = &cc
		}
		out[i] = e
	}
	return out
}

func isFastType(e expr.Any) bool {
	switch e.(type) {
	case *expr.Payload, *expr.Cmp, *expr.Meta, *expr.Counter, *expr.Verdict:
		return true
	}
	return false
}

func dumpExprs(es []expr.Any) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n\t%T %+v", e, e)
	}
	return b.String()
}
