// Package privtest is the one gate for privileged tests. Without the capabilities
// pktlab needs, a test is skipped, except in CI (CI=true), where a skip would hide
// untested code, so the test fails instead.
//
// When PKTLAB_SKIP_LOG names a file, every skip is appended to it, so that a runner
// can prove that no privileged test was skipped.
package privtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/pktlab/pktlab/internal/privilege"
)

// Require stops the test unless the process may create labs: it skips, or fails when
// the CI environment variable is "true".
func Require(t testing.TB) {
	t.Helper()
	err := privilege.Check()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("privileged test cannot run in CI: %v", err)
	}
	if p := os.Getenv("PKTLAB_SKIP_LOG"); p != "" {
		if f, ferr := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); ferr == nil {
			fmt.Fprintf(f, "%s: %v\n", t.Name(), err)
			f.Close()
		}
	}
	t.Skipf("privileged test skipped: %v", err)
}
