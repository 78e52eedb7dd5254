package testlab_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

func privtestRequire(t *testing.T) { privtest.Require(t) }

func readExampleB(b *testing.B, name string) string {
	data, err := os.ReadFile(filepath.Join("..", "examples", "labs", name))
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
