package experiment_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/internal/privtest"
)

// TestCraftFixtures runs the craft fixtures, each in its own lab: TCP options, flags
// and corruption through raw IPv4 and IPv6 sockets (craft-tcp), Ethernet sends with
// via, MACs, IPv4 header corruption and count/interval (craft-l2). Every expectation
// must hold; each checks a frame on the wire or the receiving kernel's answer.
func TestCraftFixtures(t *testing.T) {
	privtest.Require(t)
	for _, tc := range []struct {
		file     string
		outcomes int
	}{{"testdata/craft-tcp.yaml", 18}, {"testdata/craft-l2.yaml", 10}} {
		t.Run(strings.TrimSuffix(filepath.Base(tc.file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			f, err := experiment.Load(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := experiment.Run(ctx, f, experiment.Options{})
			if err != nil {
				if res != nil {
					t.Log(report(res))
				}
				t.Fatal(err)
			}
			if len(res.Outcomes) != tc.outcomes {
				t.Errorf("%d outcomes, want %d", len(res.Outcomes), tc.outcomes)
			}
			if !res.Passed() {
				t.Errorf("expectations failed:\n%s", report(res))
			}
		})
	}
}
