package labtest

import (
	"fmt"
	"testing"
	"time"
)

// FailAfter bounds every wait on what the kernel reports: far longer than anything
// takes on a loaded machine, so reaching it means the awaited thing never happens,
// never that the machine was slow. Tests wait on a condition, not for a time.
const FailAfter = 60 * time.Second

// pollEvery is how often Until asks again. It sets only how soon after the change a
// waiting test goes on, not whether it passes.
const pollEvery = 2 * time.Millisecond

// Until asks cond until it reports true (a counter reached, a socket in a state, an
// entry present) and fails the test with what and cond's last error if that has not
// happened within FailAfter. cond asks the kernel; Until never decides by the clock
// whether something happened.
func Until(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	if err := Poll(cond); err != nil {
		t.Fatalf("labtest: waiting for %s: %v", what, err)
	}
}

// Poll is Until for a goroutine that may not fail the test itself (a hook called by
// the code under test): it returns an error instead.
func Poll(cond func() (bool, error)) error {
	end := time.Now().Add(FailAfter)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(end) {
			if err != nil {
				return fmt.Errorf("still not so after %v: %w", FailAfter, err)
			}
			return fmt.Errorf("still not so after %v", FailAfter)
		}
		<-tick.C
	}
}
