// Package archtest holds the tests that keep the rules of docs/architecture.md: what
// may import what, and what may call what. They read the module with `go list`.
package archtest

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
}

// packages lists the module's packages (without tests) as `go list -json` gives them.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/pktlab/pktlab/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	d := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := d.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if len(ps) < 10 {
		t.Fatalf("go list found %d packages", len(ps))
	}
	return ps
}

func rel(p pkg) string { return strings.TrimPrefix(p.ImportPath, "github.com/pktlab/pktlab/") }

func TestArchitecture(t *testing.T) {
	ps := packages(t)
	t.Run("only filter imports google/nftables", func(t *testing.T) {
		for _, p := range ps {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, "github.com/google/nftables") && rel(p) != "filter" {
					t.Errorf("%s imports %s: nftables rules are written by package filter", rel(p), imp)
				}
			}
		}
	})
	t.Run("only filter runs nft", func(t *testing.T) {
		// Texts beyond filter's subset are checked and applied by nft through
		// filter.CheckText and filter.ApplyText, so that one package writes rules.
		nft := regexp.MustCompile(`exec\.Command(Context)?\(([^,()]+, )?"nft"`)
		for _, p := range ps {
			if rel(p) == "filter" {
				continue
			}
			for _, f := range p.GoFiles {
				b, err := os.ReadFile(filepath.Join(p.Dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if nft.Match(b) {
					t.Errorf("%s/%s runs nft: nftables rules are written by package filter (ApplyText)", rel(p), f)
				}
			}
		}
	})
	t.Run("no gopacket.NewPacket", func(t *testing.T) {
		// Frames are decoded once, with rawsock/header's views (rawsock/decode);
		// no file decodes with gopacket any more.
		allowed := map[string]bool{}
		var users []string
		for _, p := range ps {
			for _, f := range p.GoFiles {
				b, err := os.ReadFile(filepath.Join(p.Dir, f))
				if err != nil {
					t.Fatal(err)
				}
				name := rel(p) + "/" + f
				if strings.Contains(string(b), "gopacket.NewPacket(") {
					users = append(users, name)
					if !allowed[name] {
						t.Errorf("%s calls gopacket.NewPacket: decode with rawsock/header's views", name)
					}
				}
			}
		}
		sort.Strings(users)
		t.Logf("still on gopacket.NewPacket: %v", users)
	})
}
