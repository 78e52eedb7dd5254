//go:build linux

package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nftCheckInNamespace is the nftChecker of Parse: nft --check in a new network
// namespace that only this check's thread is in, and that the kernel removes when the
// thread ends (nothing else refers to it): no lab, no namespace name, nothing of the
// host touched. The namespace has a veth of each name in ifaces, so that iif and oif
// resolve as they will in the node, and before is applied in it first.
func nftCheckInNamespace(ifaces, before []string, text string) (out string, ok bool, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread is never unlocked: it leaves the caller's namespace, so it must
		// end with this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		if uerr := unix.Unshare(unix.CLONE_NEWNET); uerr != nil {
			err = fmt.Errorf("%w: %v", errNoNamespace, uerr)
			return
		}
		for i, name := range ifaces {
			// Errors leave the name unresolved: nft then says so, as it would in a node
			// without that interface.
			netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: fmt.Sprintf("pktlabck%d", i)})
		}
		for _, b := range before {
			runNFT(b, "-f", "-")
		}
		out, ok, err = runNFT(text, "--check", "-f", "-")
	}()
	<-done
	return out, ok, err
}

// runNFT runs nft with text on stdin in the calling thread's network namespace.
func runNFT(text string, args ...string) (string, bool, error) {
	cmd := exec.Command("nft", args...)
	cmd.Stdin = strings.NewReader(text)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return b.String(), false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("run nft: %w (is nft installed?)", err)
	}
	return b.String(), true, nil
}
