//go:build linux

package filter_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/labtest"
)

var nftErrLine = regexp.MustCompile(`(?m)^[^:\n]*corpus\.nft:(\d+):\d+(-\d+)?: Error`)

// TestListingCorpus applies the listing corpus (corpus_test.go: a few thousand rule
// forms, most of them outside pktlab's subset) with nft in a lab node and lists it with
// pktlab: every rule must come out either exactly as `nft list ruleset` prints it or as
// an unsupported marker, never as another rule, and the listing must not fail.
func TestListingCorpus(t *testing.T) {
	lab := labtest.Start(t, oneNode)
	fw := lab.Node("fw")
	src, _ := corpusRuleset()
	lines := strings.Split(src, "\n")
	file := filepath.Join(t.TempDir(), "corpus.nft")
	// Forms this nft or kernel refuses (nft reports each with its line) are left out, a
	// dozen rounds at most (nft reports some errors per run): the corpus is about what nft writes, not what it accepts.
	refused := 0
	for round := 0; ; round++ {
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		// nft -f applies the file in one batch or not at all, and names every rule
		// that nft or the kernel refused.
		out, err := fw.Exec(context.Background(), "nft", "-f", file)
		if err == nil {
			break
		}
		bad := map[int]bool{}
		for _, m := range nftErrLine.FindAllStringSubmatch(string(out), -1) {
			n, _ := strconv.Atoi(m[1])
			if n >= 1 && n <= len(lines) && strings.HasPrefix(lines[n-1], "\t\t") {
				bad[n-1] = true
			}
		}
		if len(bad) == 0 || round == 60 {
			t.Fatalf("nft -f refuses the corpus:\n%s", out)
		}
		var kept []string
		for i, l := range lines {
			if !bad[i] {
				kept = append(kept, l)
			}
		}
		refused += len(bad)
		lines = kept
	}
	want := nftRulesByHandle(nft(t, fw, "-a", "list", "ruleset"))
	conn, err := filter.ForNode(fw)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := conn.Read(context.Background())
	if err != nil {
		t.Fatalf("pktlab cannot list the corpus: %v", err)
	}
	ifs, err := conn.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	exact, marked, wrong := 0, 0, 0
	for _, tb := range rs.Tables {
		for _, c := range tb.Chains {
			for _, r := range c.Rules {
				key := tb.Family.String() + " " + tb.Name + " " + c.Name + " " + strconv.FormatUint(r.Handle, 10)
				// Counter values are the lab's traffic between the two listings.
				got := liveCounter.ReplaceAllString(filter.RenderRule(tb.Family, r, ifs), "counter packets 0 bytes 0")
				w, ok := want[key]
				w = liveCounter.ReplaceAllString(w, "counter packets 0 bytes 0")
				switch {
				case !ok:
					t.Errorf("%s: pktlab lists a rule nft does not: %s", key, got)
					wrong++
				case got == w:
					exact++
				case strings.HasPrefix(got, filter.UnsupportedMarker):
					marked++
				default:
					wrong++
					t.Errorf("%s: nft lists\n\t%s\npktlab lists\n\t%s", key, w, got)
				}
				delete(want, key)
			}
		}
	}
	for k, w := range want {
		t.Errorf("%s: pktlab does not list %s", k, w)
	}
	if testing.Verbose() {
		for _, tb := range rs.Tables {
			for _, c := range tb.Chains {
				for _, r := range c.Rules {
					if r.Unsupported != "" {
						t.Logf("marked: %s: %s", r.Unsupported, r.Raw)
					}
				}
			}
		}
	}
	t.Logf("listing corpus: %d rules applied by nft (%d forms refused by nft left out): %d listed exactly as nft, %d marked unsupported, %d wrong",
		exact+marked+wrong, refused, exact, marked, wrong)
	if exact+marked < 2500 {
		t.Errorf("only %d rules listed; the corpus should hold a few thousand", exact+marked)
	}
}

// nftRulesByHandle reads `nft -a list ruleset`: each rule's text keyed by "family table
// chain handle".
func nftRulesByHandle(listing string) map[string]string {
	out := map[string]string{}
	var fam, table, chain string
	handle := regexp.MustCompile(` # handle (\d+)$`)
	for _, l := range strings.Split(listing, "\n") {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "table "):
			fam, table = f[1], f[2]
		case strings.HasPrefix(l, "\tchain "):
			chain = f[1]
		case strings.HasPrefix(l, "\t\t"):
			m := handle.FindStringSubmatch(l)
			if m == nil || strings.HasPrefix(strings.TrimSpace(l), "type ") {
				continue
			}
			out[fam+" "+table+" "+chain+" "+m[1]] = strings.TrimSuffix(strings.TrimPrefix(l, "\t\t"), m[0])
		}
	}
	return out
}
