package testlab

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

// TestAliveByPidAndStartTime: a creator is alive only while its pid exists, is no
// zombie, and started when the creator did.
func TestAliveByPidAndStartTime(t *testing.T) {
	pid, start, cmd, started := self()
	if start == 0 || !strings.Contains(cmd, "testlab.test") || time.Since(started) > time.Hour || time.Since(started) < 0 {
		t.Fatalf("self() = %d, %d, %q, %v", pid, start, cmd, started)
	}
	if s := (&State{PID: pid, PIDStart: start}); !s.Alive() {
		t.Error("this process is not alive")
	}
	if s := (&State{PID: pid, PIDStart: start + 1}); s.Alive() {
		t.Error("this pid with another start time (a reused pid) is alive")
	}
	if s := (&State{PID: pid}); !s.Alive() {
		t.Error("a live pid without a recorded start time is not alive")
	}

	// A child that has exited but is not yet reaped: kill(pid, 0) still succeeds.
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	cpid := child.Process.Pid
	cstart, _, err := procStat(cpid)
	for err == nil {
		var st byte
		if _, st, err = procStat(cpid); st == 'Z' {
			break
		}
	}
	if s := (&State{PID: cpid, PIDStart: cstart}); s.Alive() {
		t.Error("a zombie is alive")
	}
	child.Wait()
	if s := (&State{PID: cpid}); s.Alive() {
		t.Error("a reaped pid is alive")
	}
}

// TestStatus: each combination of the state's fields and the creator's liveness.
func TestStatus(t *testing.T) {
	pid, start, _, _ := self()
	live, dead := State{PID: pid, PIDStart: start}, State{PID: pid, PIDStart: start + 1}
	tests := []struct {
		name string
		s    State
		want Status
	}{
		{"left up by lab up", withFlags(dead, true, false), StatusUp},
		{"held by a live process", withFlags(live, true, true), StatusInUse},
		{"held by a dead process", withFlags(dead, true, true), StatusOrphaned},
		{"being created", withFlags(live, false, true), StatusCreating},
		{"creator died while creating", withFlags(dead, false, true), StatusOrphaned},
		{"unreadable", State{Err: os.ErrInvalid}, StatusBroken},
	}
	for _, tt := range tests {
		if got := tt.s.Status(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func withFlags(s State, up, held bool) State {
	s.Up, s.Held = up, held
	return s
}

// TestLabOf: a namespace name gives back its lab, since node names hold no '-'.
func TestLabOf(t *testing.T) {
	for ns, want := range map[string]string{
		"pktlab-prbq-a-b": "prbq-a", "pktlab-x-c1-1a2b3c-client": "x-c1-1a2b3c", "pktlab-nat-router": "nat",
		"pktlab-nat": "", "other-nat-a": "", "pktlab-nat-": "",
	} {
		got, ok := LabOf(ns)
		if got != want || ok != (want != "") {
			t.Errorf("LabOf(%q) = %q, %v; want %q", ns, got, ok, want)
		}
	}
}

// TestEnumNames pins the names lab ls prints and the fallback of the lab enums.
func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		StatusUp: "up", StatusInUse: "in use", StatusCreating: "creating", StatusOrphaned: "orphaned", StatusBroken: "broken",
		Status(5):  "Status(5)",
		Status(-1): "Status(-1)",
		KindHost:   "host", KindBridge: "bridge", NodeKind(2): "NodeKind(2)", NodeKind(-1): "NodeKind(-1)",
	})
}
