package experiment

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/timeline"
)

// TestCallExpectationsReadTheTimeline: a call expectation finds its step's result
// among the Call events of the timeline by their step id, whatever other steps and
// calls are recorded there: the call that failed and ended the step, else its main
// call (a socket step's socket(2), other steps' last call).
func TestCallExpectationsReadTheTimeline(t *testing.T) {
	start := time.Now()
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	tl := timeline.New(start, nil)
	for _, c := range []timeline.Call{
		{Start: at(1), Node: "c", Sock: "c", Op: "socket", Ret: 3, Step: "conn"},
		{Start: at(2), Node: "c", Sock: "c", Op: "bind", Step: "conn"},
		{Start: at(3), Node: "s", Sock: "x", Op: "recv", Ret: 4, Data: []byte("late")}, // no step's
		{Start: at(4), Node: "c", Sock: "c", Op: "connect", Ret: -1, Errno: syscall.ECONNREFUSED, Step: "conn"},
		{Start: at(5), Node: "s", Sock: "u", Op: "socket", Ret: 7, Step: "open"},
		{Start: at(6), Node: "s", Sock: "u", Op: "setsockopt", Step: "open"},
		{Start: at(7), Node: "s", Sock: "u", Op: "bind", Step: "open"},
		{Start: at(8), Node: "s", Sock: "v", Op: "socket", Ret: 8, Step: "taken"},
		{Start: at(9), Node: "s", Sock: "v", Op: "bind", Ret: -1, Errno: syscall.EADDRINUSE, Step: "taken"},
		{Start: at(10), Dur: time.Second, Node: "s", Sock: "l", Op: "accept", Timed: true, Step: "wait"},
		{Start: at(11), Node: "s", Sock: "u", Op: "send", Ret: 2, Data: []byte("hi"), Step: "branch"},
	} {
		tl.AddCall(c)
	}
	f := &File{Steps: []*Step{
		{ID: "conn", Action: ActConnect}, {ID: "open", Action: ActSocket}, {ID: "taken", Action: ActSocket},
		{ID: "wait", Action: ActAccept}, {ID: "never", Action: ActRecv},
		{Action: ActParallel, Branches: [][]*Step{{{ID: "branch", Action: ActSend}}}},
	}}
	r := &run{f: f, tl: tl}
	ret := func(n int) *int { return &n }
	data := func(s string) *string { return &s }
	blocked := true
	for _, tc := range []struct {
		name string
		m    CallMatch
		pass bool
		seen string
	}{
		{"failed connect", CallMatch{Step: "conn", Errno: "ECONNREFUSED", Ret: ret(-1)}, true, "c c connect() = -1 ECONNREFUSED"},
		{"failed step is no success", CallMatch{Step: "conn", Errno: "0"}, false, "(the step failed)"},
		{"failed step says nothing of info", CallMatch{Step: "conn", Info: "local"}, false, "(the step failed)"},
		{"socket step is its socket call", CallMatch{Step: "open", Errno: "0", Ret: ret(7)}, true, "s u socket() = 7"},
		{"socket step ended by its bind", CallMatch{Step: "taken", Errno: "EADDRINUSE"}, true, "s v bind() = -1 EADDRINUSE"},
		{"blocked at its timeout", CallMatch{Step: "wait", Blocked: &blocked}, true, "(still blocked at timeout)"},
		{"step in a parallel branch", CallMatch{Step: "branch", Data: data("hi"), Ret: ret(2)}, true, "s u send() = 2"},
		{"wrong data", CallMatch{Step: "branch", Data: data("late")}, false, "s u send() = 2"},
		{"step that made no call", CallMatch{Step: "never", Errno: "0"}, false, "made no socket call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, pass, seen := tc.m.check(context.Background(), r)
			if pass != tc.pass || !strings.Contains(seen, tc.seen) {
				t.Errorf("pass %v, seen %q; want pass %v, seen containing %q", pass, seen, tc.pass, tc.seen)
			}
		})
	}
}
