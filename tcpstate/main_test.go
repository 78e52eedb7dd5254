package tcpstate

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
)

// seen records every state transition any test made, to check that the tests cover
// every arrow of RFC 9293 Figure 5.
var (
	seenMu sync.Mutex
	seen   = map[[2]State]bool{}
)

func recordTransitions(evs []Event) {
	seenMu.Lock()
	defer seenMu.Unlock()
	for _, e := range evs {
		if e.Kind == EventStateChanged {
			seen[[2]State{e.From, e.To}] = true
		}
	}
}

// rfcTransitions are the arrows of RFC 9293 Figure 5.
var rfcTransitions = [][2]State{
	{Closed, Listen}, {Closed, SynSent}, {Listen, Closed}, {Listen, SynReceived}, {Listen, SynSent},
	{SynSent, Closed}, {SynSent, SynReceived}, {SynSent, Established},
	{SynReceived, Listen}, {SynReceived, Established}, {SynReceived, FinWait1},
	{Established, FinWait1}, {Established, CloseWait},
	{FinWait1, FinWait2}, {FinWait1, Closing}, {FinWait2, TimeWait},
	{Closing, TimeWait}, {CloseWait, LastAck}, {LastAck, Closed}, {TimeWait, Closed},
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		var missing []string
		for _, tr := range rfcTransitions {
			if !seen[tr] {
				missing = append(missing, fmt.Sprintf("%v → %v", tr[0], tr[1]))
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: RFC 9293 Figure 5 transitions no test made: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}
