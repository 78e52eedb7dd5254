package testlab_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// TestLimits: the default limits refuse a 257-node lab, ParseLimits with a higher one
// accepts it, and what each limit counts is what the topology has.
func TestLimits(t *testing.T) {
	src := []byte(labtest.Chain("x", testlab.DefaultLimits.Nodes+1))
	want := "t.yaml:2:1: 257 nodes, more than the limit of 256 (pktlab lab up --max-nodes N raises it)"
	if _, err := testlab.ParseFile("t.yaml", src); err == nil || err.Error() != want {
		t.Fatalf("257 nodes: %v, want %s", err, want)
	}
	topo, err := testlab.ParseLimits("t.yaml", src, testlab.Limits{Nodes: 300})
	if err != nil {
		t.Fatalf("testlab.ParseLimits(300 nodes): %v", err)
	}
	if len(topo.Nodes) != 257 || len(topo.Links) != 256 {
		t.Errorf("%d nodes, %d links; want 257, 256", len(topo.Nodes), len(topo.Links))
	}
	if _, err := testlab.ParseLimits("t.yaml", src, testlab.Limits{Nodes: 300, Links: 255}); err == nil || !strings.Contains(err.Error(), "256 links, more than the limit of 255") {
		t.Errorf("links over the limit: %v", err)
	}
	if _, err := testlab.ParseFile("t.yaml", []byte(twoNodes(65))); err == nil || !strings.HasPrefix(err.Error(), "t.yaml:4:5: node a: 65 interfaces, more than the limit of 64 per node") {
		t.Errorf("65 interfaces: %v", err)
	}
	if _, err := testlab.ParseLimits("t.yaml", []byte(twoNodes(65)), testlab.Limits{Interfaces: 65}); err != nil {
		t.Errorf("65 interfaces within a limit of 65: %v", err)
	}
}

// twoNodes is two nodes joined by n links.
func twoNodes(n int) string {
	var b strings.Builder
	b.WriteString("name: x\nnodes:\n")
	for _, node := range []string{"a", "b"} {
		fmt.Fprintf(&b, "  %s:\n    interfaces:\n", node)
		for i := range n {
			fmt.Fprintf(&b, "      e%d: []\n", i)
		}
	}
	b.WriteString("links:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - [a:e%d, b:e%d]\n", i, i)
	}
	return b.String()
}
