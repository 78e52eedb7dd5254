// Command pktlab builds labs of network namespaces and shows, crafts and scripts what
// happens on their links. main only wires the commands together, maps errors to exit
// codes and waits for a signal, an error or completion.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

var rootCmd = &cobra.Command{
	Use:   "pktlab",
	Short: "See and script Linux networking at the packet level",
	Long: `pktlab builds small networks of Linux network namespaces joined by veth links,
captures and crafts frames on them, drives TCP from its own userspace stack against the
kernel's, and applies nftables firewall and NAT rules inside lab nodes, so that every
frame, state change and netfilter verdict can be seen and asserted.

Everything pktlab creates lives in namespaces named pktlab-<lab>-<node>; the host's own
network namespace is never changed. Lab addresses come from 198.18.0.0/15 and 2001:db8::/32.`,
	Example: `  sudo pktlab lab up examples/labs/client-router-server.yaml
  sudo pktlab lab show crs
  sudo pktlab lab exec crs client -- ping -c1 198.19.2.2
  sudo pktlab lab down crs`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	ctx, stop := signalContext()
	defer stop()
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	err := rootCmd.ExecuteContext(ctx)
	// A command that a signal cut short fails with whatever its interrupted call
	// returned (a cancelled read, a removed lab); the status says it was the signal.
	var se *signalErr
	if sig := interrupted(ctx); err != nil && sig != nil && !errors.As(err, &se) {
		err = fmt.Errorf("%w (%w)", err, sig)
	}
	stop()
	os.Exit(exitCode(err))
}

// signalContext returns a context that the first SIGINT or SIGTERM cancels, with a
// *signalErr as its cause: every command then stops what it is doing, cleans up
// (removes what it created in the lab, writes out its files) and returns. A second
// signal exits at once, without that cleanup, for a command that hangs.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(&signalErr{s.(syscall.Signal)})
		s = <-sigs
		fmt.Fprintf(os.Stderr, "pktlab: second %v: exiting without cleanup\n", s)
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
	}
}

// signalErr is the cause of the context's end when a signal stopped the command. A
// command that a signal cut short exits 128 + the signal number, as a shell reports
// a process killed by it.
type signalErr struct{ sig syscall.Signal }

func (e *signalErr) Error() string {
	switch e.sig {
	case syscall.SIGTERM:
		return "terminated (SIGTERM)"
	case syscall.SIGPIPE:
		return "output closed (SIGPIPE)"
	}
	return "interrupted (SIGINT)"
}

// interrupted returns the signal that ended ctx, if one did, else nil.
func interrupted(ctx context.Context) error {
	var se *signalErr
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return nil
}

// exitCode maps an error to the exit status: 2 for bad input or usage, 1 for any other
// failure.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageErr
	var ee *exitErr
	var se *signalErr
	switch {
	case errors.As(err, &se):
		fmt.Fprintln(os.Stderr, "pktlab:", err)
		return 128 + int(se.sig)
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "pktlab:", ee.err)
		}
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "pktlab:", err)
		return exitUsage
	case isCobraUsage(err):
		fmt.Fprintln(os.Stderr, "pktlab:", err)
		return exitUsage
	default:
		fmt.Fprintln(os.Stderr, "pktlab:", err)
		return exitFailure
	}
}

// usageErr marks bad input: a wrong flag, argument or input file. It exits 2.
type usageErr struct{ err error }

func (e *usageErr) Error() string { return e.err.Error() }
func (e *usageErr) Unwrap() error { return e.err }

// usageError returns an error that makes pktlab exit 2.
func usageError(format string, args ...any) error {
	return &usageErr{fmt.Errorf(format, args...)}
}

// exitErr carries an explicit exit code; a nil err prints nothing (the command has
// already said what happened, e.g. an assertion summary).
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitErr) Unwrap() error { return e.err }

// exitWith returns an error that makes pktlab exit with code after printing err, if any.
func exitWith(code int, err error) error { return &exitErr{code: code, err: err} }

// isCobraUsage reports the argument-count and unknown-command errors cobra returns
// before a command runs.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// cobraArgs wraps a cobra positional-argument validator so its errors exit 2.
func cobraArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError("%s: %v (see %s --help)", cmd.CommandPath(), err, cmd.CommandPath())
		}
		return nil
	}
}
