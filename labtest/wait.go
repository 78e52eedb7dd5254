package labtest

import (
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
	end := time.Now().Add(FailAfter)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			if err != nil {
				t.Fatalf("labtest: waited %v for %s: %v", FailAfter, what, err)
			}
			t.Fatalf("labtest: waited %v for %s", FailAfter, what)
		}
		<-tick.C
	}
}
