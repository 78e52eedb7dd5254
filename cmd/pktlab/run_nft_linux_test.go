package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// TestRunBadNFTExits2: a file whose nft step nft refuses exits 2 at the step's place
// before anything is created: no lab namespace, and the setup ruleset, which the check
// applies first in a throwaway namespace, never reaches the host's ruleset.
func TestRunBadNFTExits2(t *testing.T) {
	privtest.Require(t)
	p := writeFile(t, "badnft.yaml", `lab:
  nodes:
    a: {interfaces: {eth0: [198.18.0.1/24]}}
    b: {interfaces: {eth0: [198.18.0.2/24]}}
  links: [[a:eth0, b:eth0]]
nft:
  a: |
    table arp pktlabbadnft {
      chain c { type filter hook input priority 0; }
    }
steps:
  - node: a
    nft: |
      add rule arp pktlabbadnft c meta nosuchthing 1 accept
`)
	before := pktlabNamespaces()
	_, stderr, code := run(t, "run", p)
	if code != 2 {
		t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	if want := p + ":14:"; !strings.Contains(stderr, want) || !strings.Contains(stderr, "nft ruleset of a") {
		t.Errorf("stderr does not place the nft error at %s:\n%s", want, stderr)
	}
	for ns := range pktlabNamespaces() {
		if !before[ns] && strings.HasPrefix(ns, "pktlab-x-badnft-") {
			t.Errorf("a bad file created namespace %s", ns)
		}
	}
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	if strings.Contains(string(out), "pktlabbadnft") {
		t.Errorf("the check changed the host's ruleset:\n%s", out)
	}
}
