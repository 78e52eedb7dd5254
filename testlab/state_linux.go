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

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// StateDir holds one JSON file per lab, so that another pktlab process can open a
// running lab by name and `lab down --all` can find what a crash left.
const StateDir = "/run/pktlab"

// State is what a lab's state file records.
type State struct {
	Name    string    `json:"name"`
	File    string    `json:"file,omitempty"`
	Source  string    `json:"source"`
	PID     int       `json:"pid"`
	Created time.Time `json:"created"`
	Up      bool      `json:"up"` // false while Start is still creating it
}

func statePath(name string) string { return filepath.Join(StateDir, name+".json") }

// claim records the lab before anything is created, so that a crash at any point
// leaves a trace that `down --all` finds. It fails if the lab already exists.
func claim(t *Topology) error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return fmt.Errorf("testlab: create %s: %w", StateDir, err)
	}
	if _, err := os.Stat(statePath(t.Name)); err == nil {
		return fmt.Errorf("testlab: lab %s is already up (see pktlab lab ls; remove it with pktlab lab down %s)", t.Name, t.Name)
	}
	for _, ns := range nsNames(t) {
		if _, err := os.Stat(filepath.Join(NetnsDir, ns)); err == nil {
			return fmt.Errorf("testlab: namespace %s exists from an earlier run (remove it with pktlab lab down --all)", ns)
		}
	}
	return writeState(t, false, os.O_CREATE|os.O_EXCL)
}

func markUp(t *Topology) error { return writeState(t, true, os.O_TRUNC) }

func writeState(t *Topology, up bool, flags int) error {
	b, err := json.MarshalIndent(State{Name: t.Name, File: t.File, Source: string(t.Source), PID: os.Getpid(), Created: time.Now().UTC(), Up: up}, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(statePath(t.Name), os.O_WRONLY|flags, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("testlab: lab %s is already up (pktlab lab down %s)", t.Name, t.Name)
		}
		return fmt.Errorf("testlab: write state of lab %s: %w", t.Name, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
		return nil, fmt.Errorf("testlab: state file %s is corrupt (%v); remove the lab with pktlab lab down --all", statePath(name), err)
	}
	return &s, nil
}

// Alive reports whether the process that created the lab is still running; a lab
// that is not Up and whose creator is gone was left by a crash.
func (s *State) Alive() bool {
	return s.PID > 0 && syscall.Kill(s.PID, 0) == nil
}

// Open attaches to a running lab by name. Close on the result removes the lab; Release
// only lets go of it.
func Open(name string) (*Lab, error) {
	s, err := ReadState(name)
	if err != nil {
		return nil, err
	}
	t, err := ParseFile(s.File, []byte(s.Source))
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

// List returns the state of every lab that has a state file, by name.
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
			s = &State{Name: name}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Down removes a lab by name: every namespace whose name starts with pktlab-<name>-
// that belongs to it, and its state file. It works on a lab whose creator crashed.
func Down(name string) error {
	s, err := ReadState(name)
	if err != nil {
		return err
	}
	var namespaces []string
	if t, perr := ParseFile(s.File, []byte(s.Source)); perr == nil {
		namespaces = nsNames(t)
	}
	return errors.Join(removeLab(name, namespaces)...)
}

// Removed is what DownAll removed.
type Removed struct {
	Labs, Namespaces, Links []string
}

// DownAll removes every lab, and every orphan a crashed run left: namespaces under
// /run/netns and state files named with the pktlab- prefix, and any link in the
// calling namespace (the host's) whose name has the prefix.
func DownAll() (Removed, error) {
	var r Removed
	var errs []error
	states, _ := List()
	for _, s := range states {
		r.Labs = append(r.Labs, s.Name)
	}
	ents, err := os.ReadDir(NetnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix) {
			if err := deleteNamespace(e.Name()); err != nil {
				errs = append(errs, err)
			} else {
				r.Namespaces = append(r.Namespaces, e.Name())
			}
		}
	}
	for _, s := range states {
		if err := os.Remove(statePath(s.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
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
