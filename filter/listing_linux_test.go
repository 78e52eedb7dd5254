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

	"github.com/google/go-cmp/cmp"
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
	// The verifier's shortcut (an exactly decoded expression equal as a value) must
	// decide every rule as the comparison of the kernel's bytes does.
	restore := filter.VerifyByValue(false)
	bytewise, err := conn.Read(context.Background())
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := liveCounter.ReplaceAllString(filter.Render(rs, ifs), ""), liveCounter.ReplaceAllString(filter.Render(bytewise, ifs), ""); a != b {
		t.Errorf("the listing differs when the verifier compares every expression's bytes:\n%s", cmp.Diff(b, a))
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
	oExact, oMarked := compareObjects(t, nft(t, fw, "list", "ruleset"), rs, ifs)
	t.Logf("listing corpus: %d objects: %d listed exactly as nft, %d marked unsupported", oExact+oMarked, oExact, oMarked)
	if oExact < 3*10 {
		t.Errorf("only %d objects listed exactly; each table holds ten counters and quotas", oExact)
	}
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

// objectDecl is the first line of an object declaration in `nft list ruleset`.
var objectDecl = regexp.MustCompile(`^\t(counter|quota|limit|ct helper|ct timeout|ct expectation|synproxy|secmark) (\S+) \{$`)

// liveObject is what the corpus's rules count in the objects they name (cnt, q).
var liveObject = regexp.MustCompile(`packets \d+ bytes \d+| used \d+ \w+`)

// compareObjects requires every object declaration of nft's listing to be listed by
// pktlab either exactly as nft lists it or as an unsupported marker naming it, and
// pktlab to list no other.
func compareObjects(t *testing.T, listing string, rs *filter.Ruleset, ifs filter.Interfaces) (exact, marked int) {
	want := map[string]string{}
	var table, key string
	for _, l := range strings.Split(listing, "\n") {
		switch m := objectDecl.FindStringSubmatch(l); {
		case strings.HasPrefix(l, "table "):
			table = strings.TrimSuffix(strings.TrimPrefix(l, "table "), " {")
		case m != nil:
			key = table + " " + m[1] + " " + m[2]
			want[key] = l + "\n"
		case key != "":
			want[key] += l + "\n"
			if l == "\t}" {
				key = ""
			}
		}
	}
	for _, tb := range rs.Tables {
		for _, o := range tb.Objects {
			var b strings.Builder
			filter.RenderTable(&b, &filter.Table{Family: tb.Family, Name: tb.Name, Objects: []*filter.Object{o}}, ifs)
			lines := strings.SplitAfter(b.String(), "\n")
			got := strings.Join(lines[1:len(lines)-2], "")
			k := tb.Family.String() + " " + tb.Name + " " + o.Kind.String() + " " + o.Name
			w, ok := want[k]
			delete(want, k)
			switch {
			case !ok:
				t.Errorf("%s: pktlab lists an object nft does not: %s", k, got)
			case got == w, (o.Name == "cnt" || o.Name == "q") && liveObject.ReplaceAllString(got, "") == liveObject.ReplaceAllString(w, ""):
				exact++
			case strings.HasPrefix(got, "\t"+filter.UnsupportedMarker) && strings.Contains(got, o.Kind.String()+" "+o.Name):
				marked++
			default:
				t.Errorf("%s: nft lists\n%spktlab lists\n%s", k, w, got)
			}
		}
	}
	for k, w := range want {
		t.Errorf("%s: pktlab does not list\n%s", k, w)
	}
	return exact, marked
}
