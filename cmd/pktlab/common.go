package main

import (
	"errors"
	"os"

	"github.com/pktlab/pktlab/internal/privilege"
	"github.com/pktlab/pktlab/testlab"
)

// requireRoot returns a one-line error naming the missing capability, or nil.
func requireRoot() error {
	if err := privilege.Check(); err != nil {
		return err
	}
	return nil
}

// openLab attaches to a running lab by name, after checking privileges. The caller
// calls Release on it when done (Close would remove the lab).
func openLab(name string) (*testlab.Lab, error) {
	if err := requireRoot(); err != nil {
		return nil, err
	}
	l, err := testlab.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, usageError("%v", err)
	}
	return l, err
}

// withNode attaches to lab labName, finds its node nodeName and runs fn on them,
// releasing the lab after; a missing lab or node is a usage error (exit 2).
func withNode(labName, nodeName string, fn func(*testlab.Lab, *testlab.Node) error) error {
	l, err := openLab(labName)
	if err != nil {
		return err
	}
	defer l.Release()
	n, err := lookupNode(l, nodeName)
	if err != nil {
		return err
	}
	return fn(l, n)
}

// lookupNode finds a node of a lab, with an error listing the nodes there are (exit 2).
func lookupNode(l *testlab.Lab, name string) (*testlab.Node, error) {
	n, err := l.LookupNode(name)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return n, nil
}
