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

// openIn attaches to lab labName and returns what find looks up in it (a node, NODE:IF
// endpoints). The caller releases the lab; on an error (openLab's or find's) it is
// released already.
func openIn[T any](labName string, find func(*testlab.Lab) (T, error)) (*testlab.Lab, T, error) {
	var none T
	l, err := openLab(labName)
	if err != nil {
		return nil, none, err
	}
	v, err := find(l)
	if err != nil {
		l.Release()
		return nil, none, err
	}
	return l, v, nil
}

// openNode is openIn for one node; a missing lab or node is a usage error (exit 2).
func openNode(labName, nodeName string) (*testlab.Lab, *testlab.Node, error) {
	return openIn(labName, func(l *testlab.Lab) (*testlab.Node, error) { return lookupNode(l, nodeName) })
}

// withNode runs fn on lab labName's node nodeName (openNode), releasing the lab after.
func withNode(labName, nodeName string, fn func(*testlab.Lab, *testlab.Node) error) error {
	l, n, err := openNode(labName, nodeName)
	if err != nil {
		return err
	}
	defer l.Release()
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
