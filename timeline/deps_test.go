package timeline

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoSyscallPackages guards the rule of docs/architecture.md that the timeline
// imports no system-call package: it records what the packages that talk to the
// kernel report, and anything that reads it (renderers, matchers, a report) must be
// able to run without them.
func TestNoSyscallPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "golang.org/x/sys/unix",
			strings.HasPrefix(dep, "github.com/pktlab/pktlab/") && forbidden[strings.TrimPrefix(dep, "github.com/pktlab/pktlab/")]:
			t.Errorf("timeline depends on %s: the timeline imports no system-call package (docs/architecture.md); "+
				"what it needs of such a package (a decoded frame's headers, say) belongs in one that makes no system calls, "+
				"such as rawsock/header, or is handed to it by the caller (Captured)", dep)
		}
	}
}

// forbidden are the project's packages that make system calls (or import one that
// does).
var forbidden = map[string]bool{"agent": true, "sockdiag": true, "rawsock": true, "testlab": true,
	"filter": true, "nat": true, "ktrace": true, "tcpstate/host": true}
