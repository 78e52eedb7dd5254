package experiment_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/internal/privtest"
)

// TestCaptureReadErrorFailsRun deletes the captured interface during the run: the
// capture socket's read fails (ENETDOWN), and the run must fail naming the
// interface, not pass an expectation of no frames on it.
func TestCaptureReadErrorFailsRun(t *testing.T) {
	privtest.Require(t)
	f, err := experiment.Load("testdata/capture-broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := experiment.Run(context.Background(), f, experiment.Options{})
	if err == nil {
		t.Fatalf("the run passed with its capture broken:\n%s", report(res))
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "a:eth0") || !strings.Contains(err.Error(), "capture") {
		t.Errorf("error %q does not say the capture on a:eth0 failed", err)
	}
}
