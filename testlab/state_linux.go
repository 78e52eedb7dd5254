//go:build linux

package testlab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/internal/enumname"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// StateDir holds one JSON file per lab, so that another pktlab process can open a
// running lab by name and `lab down --all` can find what a crash left.
const StateDir = "/run/pktlab"

// State is what a lab's state file records.
type State struct {
	Name   string `json:"name"`
	File   string `json:"file,omitempty"`
	Source string `json:"source"`
	Limits Limits `json:"limits"` // the limits the topology was validated within

	// The creator: the process that started the lab. PIDStart, field 22 of
	// /proc/PID/stat (clock ticks after boot), tells it apart from a later process
	// that the kernel gave the same pid.
	PID      int       `json:"pid"`
	PIDStart uint64    `json:"pid_start,omitempty"`
	Command  string    `json:"command,omitempty"`
	Started  time.Time `json:"started,omitzero"` // when the creator started
	Created  time.Time `json:"created"`

	Up bool `json:"up"` // false while Start is still creating it
	// Held: the lab lives as long as its creator, which removes it when it ends
	// (pktlab run, a test). A lab left up on purpose (pktlab lab up, run --keep) is not
	// held: Release lets go of it.
	Held bool `json:"held"`

	// Err is why the state file could not be read, for a lab List found broken.
	Err error `json:"-"`
}

// Status is what a lab's state and its creator's liveness say about it.
type Status int

// Statuses, as lab ls shows them.
const (
	StatusUp       Status = iota // up, and not held by a process: left up on purpose
	StatusInUse                  // up and held by its creator, which is running
	StatusCreating               // being created by a running process
	StatusOrphaned               // its creator died without removing it (crash, SIGKILL)
	StatusBroken                 // the state file cannot be read
)

var statusNames = [...]string{
	StatusUp: "up", StatusInUse: "in use", StatusCreating: "creating", StatusOrphaned: "orphaned", StatusBroken: "broken",
}

func (s Status) String() string { return enumname.Name(s, statusNames[:], "Status(%d)") }

// Status says whether the lab is up, in use, being created, orphaned or broken. The
// creator's liveness is checked for every lab that records one (see Alive).
func (s *State) Status() Status {
	switch {
	case s.Err != nil:
		return StatusBroken
	case !s.Up && s.Alive():
		return StatusCreating
	case !s.Up:
		return StatusOrphaned
	case !s.Held:
		return StatusUp
	case s.Alive():
		return StatusInUse
	}
	return StatusOrphaned
}

// Alive reports whether the process that created the lab is still running: the pid
// exists, is not a zombie, and (when recorded) started when the creator did, so a pid
// the kernel reused for another process counts as dead.
func (s *State) Alive() bool {
	if s.PID <= 0 {
		return false
	}
	start, state, err := procStat(s.PID)
	if err != nil {
		// /proc may hide other users' processes (hidepid): then all that can be told
		// is whether the pid exists.
		return errors.Is(syscall.Kill(s.PID, 0), syscall.EPERM)
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return s.PIDStart == 0 || start == s.PIDStart
}

// procStat reads a process's start time (field 22 of /proc/PID/stat, in clock ticks
// after boot) and state (field 3), as proc(5) describes them. The command name (field
// 2) is in parentheses and may hold spaces and parentheses, so fields are counted
// from the last ')'.
func procStat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("testlab: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("testlab: /proc/%d/stat: %d fields after the command name, want 20", pid, len(f))
	}
	if _, err := fmt.Sscan(f[19], &start); err != nil {
		return 0, 0, fmt.Errorf("testlab: /proc/%d/stat: start time %q: %w", pid, f[19], err)
	}
	return start, f[0][0], nil
}

// userHZ is the unit of /proc/PID/stat times: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// self describes this process as a lab's creator.
func self() (pid int, start uint64, command string, started time.Time) {
	pid = os.Getpid()
	start, _, _ = procStat(pid)
	if b, err := os.ReadFile("/proc/self/cmdline"); err == nil {
		command = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if len(command) > 200 {
			command = command[:200] + "…"
		}
	}
	if bt := bootTime(); !bt.IsZero() && start != 0 {
		started = bt.Add(time.Duration(start) * time.Second / userHZ).UTC()
	}
	return pid, start, command, started
}

// bootTime is the btime line of /proc/stat.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			var sec int64
			if _, err := fmt.Sscan(v, &sec); err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return time.Time{}
}

func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

// claim records the lab before anything is created, so that a crash at any point
// leaves a trace that `down --all` finds. It fails if the lab already exists.
func claim(t *Topology, lim Limits) error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("testlab: create %s: %w", StateDir, err)
	}
	if s, err := ReadState(t.Name); err == nil {
		return fmt.Errorf("testlab: lab %s is already up (%s)", t.Name, downAdvice(s))
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, ns := range nsNames(t) {
		if _, err := os.Stat(filepath.Join(NetnsDir, ns)); err == nil {
			return fmt.Errorf("testlab: namespace %s of lab %s exists without its lab (left by a crash, or made by hand); pktlab lab down %s removes it", ns, t.Name, t.Name)
		}
	}
	pid, start, cmd, started := self()
	return writeState(&State{Name: t.Name, File: t.File, Source: string(t.Source), Limits: lim,
		PID: pid, PIDStart: start, Command: cmd, Started: started, Created: time.Now().UTC(), Held: true},
		true)
}

// downAdvice says what state s is in and how to remove the lab: "in use by pid 42
// (pktlab run C1.yaml): stop it, or pktlab lab down --force x".
func downAdvice(s *State) string {
	switch st := s.Status(); st {
	case StatusInUse, StatusCreating:
		return fmt.Sprintf("%s by pid %d (%s): stop it, or pktlab lab down --force %s", st, s.PID, s.Command, s.Name)
	default:
		return fmt.Sprintf("%s: pktlab lab down %s removes it", st, s.Name)
	}
}

// writeState writes s whole to a temporary file and then gives it the state file's
// name, so that a reader never sees half a state file: by link(2), which fails if the
// name exists, when exclusive (the claim of a new lab); by rename(2) otherwise.
func writeState(s *State, exclusive bool) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(StateDir, "."+s.Name+".*.tmp")
	if err != nil {
		return fmt.Errorf("testlab: write state of lab %s: %w", s.Name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if exclusive {
			err = os.Link(tmp, statePath(s.Name))
		} else {
			err = os.Rename(tmp, statePath(s.Name))
		}
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("testlab: lab %s is already up (see pktlab lab ls)", s.Name)
	}
	if err != nil {
		return fmt.Errorf("testlab: write state of lab %s: %w", s.Name, err)
	}
	return nil
}

// update rewrites the lab's state file with fn applied.
func update(name string, fn func(*State)) error {
	s, err := ReadState(name)
	if err != nil {
		return err
	}
	fn(s)
	return writeState(s, false)
}

// ReadState reads a lab's state file.
func ReadState(name string) (*State, error) {
	b, err := os.ReadFile(statePath(name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, noLabError(name)
		}
		return nil, fmt.Errorf("testlab: read state of lab %s: %w", name, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("testlab: state file %s is corrupt (%v); pktlab lab down %s removes the lab", statePath(name), err, name)
	}
	return &s, nil
}

// Topology parses the topology the lab was created from, within the limits it was
// created with.
func (s *State) Topology() (*Topology, error) {
	return parse(s.File, []byte(s.Source), parseOpts{limits: s.Limits})
}

// Open attaches to a running lab by name. Close on the result removes the lab; Release
// only lets go of it.
func Open(name string) (*Lab, error) {
	s, err := ReadState(name)
	if err != nil {
		return nil, err
	}
	t, err := s.Topology()
	if err != nil {
		return nil, fmt.Errorf("testlab: lab %s: stored topology no longer parses: %w", name, err)
	}
	l := &Lab{topo: t, owned: true}
	for _, spec := range t.Nodes {
		ns := NamespaceName(name, spec.Name)
		h, err := netns.GetFromPath(filepath.Join(NetnsDir, ns))
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("testlab: lab %s: open namespace %s: %w (the lab is broken; pktlab lab down %s)", name, ns, err, name)
		}
		l.nodes = append(l.nodes, &Node{lab: l, spec: spec, ns: h})
	}
	return l, nil
}

// List returns the state of every lab that has a state file, by name. A state file
// that cannot be read is listed with Err set.
func List() ([]*State, error) {
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*State
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		s, err := ReadState(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed meanwhile
			}
			s = &State{Name: name, Err: err}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// InUseError is Down's refusal of a lab whose creator is running and holds it.
type InUseError struct{ State *State }

func (e *InUseError) Error() string {
	return fmt.Sprintf("testlab: lab %s is %s", e.State.Name, downAdvice(e.State))
}

// Down removes a lab by name: its namespaces and its state file. It works on a lab
// whose creator crashed, on one whose state file is corrupt, and on namespaces of the
// lab left without a state file: since node names hold no '-', every namespace
// pktlab-<name>-<node> is the lab's. A lab held by its running creator (pktlab run, a
// test) is refused with an *InUseError: ForceDown removes it all the same.
func Down(name string) error { return down(name, false) }

// ForceDown is Down that also removes a lab in use by a running process.
func ForceDown(name string) error { return down(name, true) }

func down(name string, force bool) error {
	namespaces := labNamespaces(name)
	s, err := ReadState(name)
	switch {
	case err == nil:
		if st := s.Status(); !force && (st == StatusInUse || st == StatusCreating) && s.PID != os.Getpid() {
			return &InUseError{s}
		}
		if t, perr := s.Topology(); perr == nil {
			namespaces = union(nsNames(t), namespaces)
		}
	case errors.Is(err, os.ErrNotExist):
		if len(namespaces) == 0 {
			return err
		}
	default:
		// A corrupt or unreadable state file: its namespaces are found by name.
	}
	return errors.Join(removeLab(name, namespaces)...)
}

// labNamespaces lists the namespaces under NetnsDir that belong to lab name:
// pktlab-<name>-<node> with <node> a valid node name (so without '-').
func labNamespaces(name string) []string {
	ents, _ := os.ReadDir(NetnsDir)
	var out []string
	prefix := NamespaceName(name, "")
	for _, e := range ents {
		if node, ok := strings.CutPrefix(e.Name(), prefix); ok && nodeNameRE.MatchString(node) {
			out = append(out, e.Name())
		}
	}
	return out
}

// LabOf returns the lab a namespace name belongs to: what lies between the prefix and
// the last '-'.
func LabOf(namespace string) (lab string, ok bool) {
	rest, ok := strings.CutPrefix(namespace, Prefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 || !nodeNameRE.MatchString(rest[i+1:]) {
		return "", false
	}
	return rest[:i], true
}

// existing keeps the namespaces that are mounted under NetnsDir.
func existing(namespaces []string) []string {
	var out []string
	for _, ns := range namespaces {
		if _, err := os.Lstat(filepath.Join(NetnsDir, ns)); err == nil {
			out = append(out, ns)
		}
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Removed is what DownAll removed, and what it kept.
type Removed struct {
	Labs, Namespaces, Links []string
	Kept                    []*State // labs left alone: up, in use, being created, or broken
}

// DownAll removes what crashed runs left: every orphaned lab (its creator died without
// removing it), every namespace under /run/netns named pktlab-* that belongs to no lab
// with a state file, and any link in the calling namespace (the host's) whose name has
// the prefix. Labs that are up, in use by a running process, being created or whose
// state file is broken are kept, unless force: then every lab goes.
func DownAll(force bool) (Removed, error) {
	var r Removed
	var errs []error
	// Namespaces first, state files second: Start writes a lab's state file before
	// its first namespace, so every namespace seen here whose lab is being created has
	// its state file in the list read next, and is not taken for an orphan.
	ents, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	states, err := List()
	if err != nil {
		errs = append(errs, err)
	}
	hasState := map[string]bool{}
	for _, s := range states {
		hasState[s.Name] = true
		if !force && s.Status() != StatusOrphaned {
			r.Kept = append(r.Kept, s)
			continue
		}
		var namespaces []string
		if t, err := s.Topology(); err == nil {
			namespaces = nsNames(t)
		}
		namespaces = existing(union(namespaces, labNamespaces(s.Name)))
		if e := removeLab(s.Name, namespaces); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		r.Labs = append(r.Labs, s.Name)
		r.Namespaces = append(r.Namespaces, namespaces...)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		if lab, ok := LabOf(e.Name()); ok && hasState[lab] {
			continue // the lab's own: removed above with it, or kept with it
		}
		if err := deleteNamespace(e.Name()); err != nil {
			errs = append(errs, err)
		} else {
			r.Namespaces = append(r.Namespaces, e.Name())
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("testlab: list host links: %w", err))
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, Prefix) {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("testlab: delete orphan link %s: %w", l.Attrs().Name, err))
			} else {
				r.Links = append(r.Links, l.Attrs().Name)
			}
		}
	}
	return r, errors.Join(errs...)
}

// noLabError says a lab is not up; errors.Is(err, os.ErrNotExist) holds for it.
type noLabError string

func (e noLabError) Error() string {
	return fmt.Sprintf("no lab named %q is up (see pktlab lab ls)", string(e))
}

func (e noLabError) Is(target error) bool { return target == os.ErrNotExist }
