//go:build linux

package filter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/pktlab/pktlab/testlab"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Texts beyond pktlab's subset of nft (another family, a delete, a rule added to a
// table an earlier text made) are checked and applied by nft itself, run here so that
// this package stays the one that writes nftables rules: CheckText before a lab
// exists, ApplyText in a lab node.

// ErrCheckNamespace is CheckText's error when it may not make its namespace.
var ErrCheckNamespace = errors.New("filter: cannot make a network namespace for nft --check (it needs root)")

// NFTError is a text nft refused: the place it names (line and column in the text,
// from 1; 0 when it names none), what it says there, and all it printed.
type NFTError struct {
	Line, Col int
	Msg       string
	Output    string
}

func (e *NFTError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("nft: %d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return "nft: " + e.Msg
}

// nftErrorLine is how nft places an error: "/dev/stdin:4:6-11: Error: Interface does
// not exist".
var nftErrorLine = regexp.MustCompile(`(?m)^[^\n:]*:(\d+):(\d+)(?:-\d+)?: Error: (.*)$`)

func nftError(out string) *NFTError {
	m := nftErrorLine.FindStringSubmatch(out)
	if m == nil {
		return &NFTError{Msg: strings.TrimSpace(out), Output: out}
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	return &NFTError{Line: line, Col: col, Msg: m[3], Output: out}
}

// CheckText runs nft --check on text in a new network namespace that only this
// check's thread is in, and that the kernel removes when the thread ends (nothing
// else refers to it): no lab, no namespace name, nothing of the host touched. The
// namespace has a veth of each name in ifaces, so that iif and oif resolve as they
// will in the node, and before is applied in it first. It returns nil when nft
// accepts the text, an *NFTError when it refuses it, and another error when the check
// could not run (ErrCheckNamespace without the privilege to make the namespace, or no
// nft).
func CheckText(ifaces, before []string, text string) error {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread is never unlocked: it leaves the caller's namespace, so it must
		// end with this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		if uerr := unix.Unshare(unix.CLONE_NEWNET); uerr != nil {
			err = fmt.Errorf("%w: %v", ErrCheckNamespace, uerr)
			return
		}
		for i, name := range ifaces {
			// Errors leave the name unresolved: nft then says so, as it would in a node
			// without that interface.
			netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: fmt.Sprintf("pktlabck%d", i)})
		}
		for _, b := range before {
			runNFT(exec.Command("nft", "-f", "-"), nil, b)
		}
		err = runNFT(exec.Command("nft", "--check", "-f", "-"), nil, text)
	}()
	<-done
	return err
}

// ApplyText applies a ruleset text, checked beforehand (Validate, CheckText), in the
// lab node n: compiled by this package and sent in one netlink batch where its subset
// covers the text (parsed against the node's interfaces), else with nft -f run inside
// the node. Either way the kernel applies the text atomically: on an error nothing in
// the node has changed.
func ApplyText(ctx context.Context, n *testlab.Node, text string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := ForNode(n)
	if err != nil {
		return err
	}
	ifs, err := c.Interfaces()
	if err != nil {
		return err
	}
	if comp, cerr := compileText(text, ifs); cerr == nil {
		return c.ApplyCompiled(comp)
	}
	if err := runNFT(exec.CommandContext(ctx, "nft", "-f", "-"), n, text); err != nil {
		return fmt.Errorf("filter: nft -f on node %s: %w", n.Name(), err)
	}
	return nil
}

// compileText is text compiled by this package, or an error where its subset does not
// cover it.
func compileText(text string, ifs Interfaces) (*Compiled, error) {
	rs, err := Parse("nft", []byte(text), ifs)
	if err != nil {
		return nil, err
	}
	return Compile(rs)
}

// runNFT runs cmd (nft reading text on stdin) inside node n, or with n nil in the
// calling thread's network namespace. An exit with an error is an *NFTError.
func runNFT(cmd *exec.Cmd, n *testlab.Node, text string) error {
	cmd.Stdin = strings.NewReader(text)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	var err error
	if n != nil {
		if err = n.Start(cmd); err == nil {
			err = cmd.Wait()
		}
	} else {
		err = cmd.Run()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nftError(b.String())
	}
	if err != nil {
		return fmt.Errorf("run nft: %w (is nft installed?)", err)
	}
	return nil
}
