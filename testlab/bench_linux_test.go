package testlab_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// chain is a lab of n nodes in a line, each neighbouring pair on its own /24.
func chain(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n", name)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  n%d:\n    interfaces:\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "      e0: [198.18.%d.2/24]\n", i-1)
		}
		if i < n-1 {
			fmt.Fprintf(&b, "      e1: [198.18.%d.1/24]\n", i)
		}
	}
	b.WriteString("links:\n")
	for i := 0; i < n-1; i++ {
		fmt.Fprintf(&b, "  - [n%d:e1, n%d:e0]\n", i, i+1)
	}
	return b.String()
}

func benchUpDown(b *testing.B, src string) {
	privtest.Require(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		name := labtest.UniqueName()
		topo, err := testlab.Parse([]byte(strings.Replace(src, "name: NAME", "name: "+name, 1)))
		if err != nil {
			b.Fatal(err)
		}
		lab, err := testlab.Start(context.Background(), topo)
		if err != nil {
			b.Fatal(err)
		}
		if err := lab.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpDownCRS: up and down of the 3-node client-router-server lab, with every
// link operationally up before Start returns.
func BenchmarkUpDownCRS(b *testing.B) {
	src := strings.Replace(readExampleB(b, "client-router-server.yaml"), "name: crs", "name: NAME", 1)
	benchUpDown(b, src)
}

// BenchmarkUpDownChain50: a 50-node chain.
func BenchmarkUpDownChain50(b *testing.B) { benchUpDown(b, chain("NAME", 50)) }

// TestChainLab: the chain used by the benchmark really forwards end to end once the
// middle nodes route (checked here on a short chain).
func TestChainLab(t *testing.T) {
	src := chain("x", 4)
	src = strings.Replace(src, "  n1:\n", "  n1:\n    forward: true\n    routes: [\"198.18.2.0/24 via 198.18.1.2\"]\n", 1)
	src = strings.Replace(src, "  n2:\n", "  n2:\n    forward: true\n    routes: [\"198.18.0.0/24 via 198.18.1.1\"]\n", 1)
	src = strings.Replace(src, "  n0:\n    interfaces:\n      e1: [198.18.0.1/24]\n", "  n0:\n    interfaces:\n      e1: [198.18.0.1/24]\n    routes: [default via 198.18.0.2]\n", 1)
	src = strings.Replace(src, "  n3:\n    interfaces:\n      e0: [198.18.2.2/24]\n", "  n3:\n    interfaces:\n      e0: [198.18.2.2/24]\n    routes: [default via 198.18.2.1]\n", 1)
	lab := labtest.Start(t, src)
	src3, err := udpReach(t, lab, "n0", "n3", mustAddr("198.18.2.2"))
	if err != nil {
		t.Fatal(err)
	}
	if src3.String() != "198.18.0.1" {
		t.Errorf("source at n3 = %s", src3)
	}
}
