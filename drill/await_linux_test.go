package drill

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestDrillAwaitBlocked: awaitBlocked sees a thread asleep in a read, and a call
// that is done.
func TestDrillAwaitBlocked(t *testing.T) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	done, tid := onOwnThread(func() callResult {
		n, _ := unix.Read(p[0], make([]byte, 1))
		return callResult{ret: int64(n)}
	})
	if saw := awaitBlocked(tid, done); saw != "blocked" {
		t.Fatalf("awaitBlocked saw %q, want the thread asleep in read", saw)
	}
	unix.Write(p[1], []byte{1})
	if r := <-done; r.ret != 1 {
		t.Fatalf("read returned %d", r.ret)
	}
	unix.Close(p[0])
	finished := make(chan callResult, 1)
	finished <- callResult{}
	if saw := awaitBlocked(unix.Gettid(), finished); saw != "done" {
		t.Errorf("awaitBlocked on a finished call saw %q, want done", saw)
	}
}
