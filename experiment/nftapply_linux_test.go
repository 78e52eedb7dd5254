//go:build linux

package experiment_test

import (
	"context"
	"testing"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/internal/privtest"
)

// TestNFTAppliedByFilter: the nftables texts of a file are written by package filter
// (docs/architecture.md): a setup text and a step text of pktlab's subset are compiled
// and sent by it, so their tables carry pktlab's mark, and steps beyond the subset
// (an arp table, deleting it) are carried out by nft inside the node, through filter.
func TestNFTAppliedByFilter(t *testing.T) {
	privtest.Require(t)
	src := `lab:
  nodes:
    a: {interfaces: {eth0: [198.18.1.1/24]}}
    b: {interfaces: {eth0: [198.18.1.2/24]}}
  links: [[a:eth0, b:eth0]]
nft:
  a: |
    table inet setup {
      chain input { type filter hook input priority filter; policy accept; }
    }
steps:
  - node: a
    nft: |
      table ip step {
        chain output { type filter hook output priority filter; policy accept; }
      }
  - node: a
    nft: |
      table arp gone {
        chain c { type filter hook input priority filter; policy accept; }
      }
  - {node: a, nft: "delete table arp gone"}
`
	f, err := experiment.Parse("nftapply.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	res, err := experiment.Run(context.Background(), f, experiment.Options{Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Lab.Close()
	conn, err := filter.ForNode(res.Lab.Node("a"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	owned, err := conn.OwnedTables(ctx)
	if err != nil || len(owned) != 2 || owned[0].Name != "setup" || owned[1].Name != "step" {
		t.Errorf("tables filter wrote in a: %d, %v; want setup and step", len(owned), err)
	}
	out, err := res.Lab.Node("a").Exec(ctx, "nft", "list", "tables")
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	if got, want := string(out), "table inet setup\ntable ip step\n"; got != want {
		t.Errorf("a's tables:\n%s\nwant:\n%s", got, want)
	}
}
