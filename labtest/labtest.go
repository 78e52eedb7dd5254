// Package labtest starts labs for tests: each test gets a lab of its own with a unique
// name, skipped without privileges (failed under CI=true) and removed by t.Cleanup.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/internal/yamlpos"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// Start parses the topology, renames the lab to a unique name (so tests in parallel
// packages never clash), starts it and removes it when the test ends. It fails the
// test on any error.
func Start(t testing.TB, topologyYAML string) *testlab.Lab {
	t.Helper()
	privtest.Require(t)
	src := []byte(topologyYAML)
	if !hasName(src) {
		// A topology for a test may leave the name out: WithName gives it one.
		src = append([]byte("name: x\n"), src...)
	}
	parsed, err := testlab.Parse(src)
	if err != nil {
		t.Fatalf("labtest: topology: %v", err)
	}
	topo, err := parsed.WithName(UniqueName())
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	lab, err := testlab.Start(context.Background(), topo)
	if err != nil {
		t.Fatalf("labtest: start lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("labtest: close lab %s: %v", lab.Name(), err)
		}
	})
	return lab
}

// Chain returns a valid topology of n nodes (n0, n1, …) in a line, named name, each
// neighbouring pair on its own /30 of 198.18.0.0/16, for n up to 16 384.
func Chain(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n", name)
	for i := range n {
		fmt.Fprintf(&b, "  n%d:\n    interfaces:\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "      e0: [198.18.%d.%d/30]\n", i/64, i%64*4+2)
		}
		if i < n-1 {
			fmt.Fprintf(&b, "      e1: [198.18.%d.%d/30]\n", (i+1)/64, (i+1)%64*4+1)
		}
	}
	b.WriteString("links:\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "  - [n%d:e1, n%d:e0]\n", i, i+1)
	}
	return b.String()
}

// UniqueName returns a fresh lab name: "t" and 8 hex digits.
func UniqueName() string {
	var b [4]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// hasName reports whether the topology's top mapping has a name key.
func hasName(src []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(src, &doc) != nil || len(doc.Content) == 0 {
		return false
	}
	return yamlpos.HasKey(doc.Content[0], "name")
}

// SendUDP sends one datagram, "pktlab", from node n to dst (address:port) with a
// kernel socket inside the node.
func SendUDP(t testing.TB, n *testlab.Node, dst string) {
	t.Helper()
	err := n.Do(func() error {
		c, err := net.Dial("udp", dst)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("pktlab"))
		return err
	})
	if err != nil {
		t.Fatalf("labtest: send a datagram from %s to %s: %v", n.Name(), dst, err)
	}
}
