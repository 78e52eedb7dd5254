package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/pktlab/pktlab/ktrace"
)

// openRunTracer opens the one kernel tracer that every experiment of a pktlab run
// subscribes its lab nodes to, so the programs are loaded once however many files
// run. Where the kernel cannot be traced (no CAP_BPF/CAP_PERFMON, no BPF, locked
// down) it says so in one line on stderr and returns nil: each run then polls
// sock_diag and notes it on its timeline. The caller closes the tracer.
func openRunTracer(stderr io.Writer, congestion bool) (*ktrace.Tracer, error) {
	tr, err := ktrace.Open(&ktrace.Options{Congestion: congestion})
	if errors.Is(err, ktrace.ErrUnsupported) {
		fmt.Fprintf(stderr, "pktlab: %v; kernel TCP states are polled with sock_diag instead (short states missed, no retransmissions, resets or drops)\n", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kernel tracing: %w", err)
	}
	return tr, nil
}
