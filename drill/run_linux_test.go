package drill

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// wantRE is the line a deliberately wrong script gives its expected message in.
var wantRE = regexp.MustCompile(`(?m)^// want: (.*)$`)

// scripts returns testdata's scripts that must pass and those that must fail.
func scripts(t *testing.T) (pass, fail []string) {
	for _, f := range testdataScripts(t) {
		switch b := filepath.Base(f); {
		case strings.HasPrefix(b, "fail-"):
			fail = append(fail, f)
		case strings.HasPrefix(b, "bad-"):
		default:
			pass = append(pass, f)
		}
	}
	return pass, fail
}

func runScript(t *testing.T, path, stack string, flags ...Option) *Result {
	t.Helper()
	s, err := Load(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), s, Options{Stack: stack, Flags: flags})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func describe(res *Result) string {
	var b strings.Builder
	for _, s := range res.Steps {
		b.WriteString("  " + s.Event.Pos.String() + " " + secs(s.At) + " " + s.Packet + s.Result + s.Note + "\n")
	}
	return b.String()
}

// loadedTolerance and loadedPercent are what the kernel runs need on the shared 2-core
// machine at load 15-25, where the kernel's own timers fire late: RTO backoffs of
// 800 ms came up to 320 ms late (kernel timestamps). The userspace runs keep the
// scripts' 10 ms. In CI a blocking call's return was once 161 ms late at load ~15, so
// the bound is 500 ms: load only ever makes events late, and the fail-*.pkt scripts,
// run at their own tolerance, keep the timing check itself tested (events too early).
var (
	loadedTolerance = Option{Name: "tolerance_usecs", Value: "500000"}
	loadedPercent   = Option{Name: "tolerance_percent", Value: "50"}
)

// TestDrillKernel runs every passing script against the kernel over IPv4 and IPv6.
func TestDrillKernel(t *testing.T) {
	privtest.Require(t)
	pass, _ := scripts(t)
	for _, ipv := range []string{"ipv4", "ipv6", "ipv4-mapped-ipv6"} {
		for _, f := range pass {
			if ipv == "ipv6" && strings.Contains(f, "ipv4-only") || ipv != "ipv6" && strings.Contains(f, "ipv6-only") {
				continue // not a skip: CI counts skipped privileged tests as failures
			}
			t.Run(ipv+"/"+filepath.Base(f), func(t *testing.T) {
				// The scripts' own tolerance (10 ms) holds on an idle machine, not on
				// this loaded one (loadedTolerance).
				res := runScript(t, f, "kernel", Option{Name: "ip_version", Value: ipv}, loadedTolerance, loadedPercent)
				if filepath.Base(f) == "shell.pkt" && (len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "kernel.pktlab_no_such_key")) {
					t.Errorf("warnings %q, want one for the host-global sysctl", res.Warnings)
				}
				if !res.Passed() {
					t.Fatalf("%v\nscript: %s\nactual: %s\nsteps:\n%s", res.Mismatch, res.Mismatch.Script, res.Mismatch.Actual, describe(res))
				}
			})
		}
	}
}

// TestDrillKernelMismatch runs the deliberately wrong scripts: each must fail with the
// message its "// want:" line gives.
func TestDrillKernelMismatch(t *testing.T) {
	privtest.Require(t)
	_, fail := scripts(t)
	for _, f := range fail {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := wantRE.FindSubmatch(src)
			if m == nil {
				t.Fatalf("%s has no // want: line", f)
			}
			res := runScript(t, f, "kernel")
			if res.Passed() {
				t.Fatalf("passed; want %q\n%s", m[1], describe(res))
			}
			// "*" in a want line stands for any text (times that vary from run to run).
			re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(string(m[1])), `\*`, ".*") + "$")
			if got := res.Mismatch.Error(); !re.MatchString(got) {
				t.Errorf("mismatch\n got: %s\nwant: %s\nsteps:\n%s", got, m[1], describe(res))
			}
		})
	}
}

// userspaceDiffers are the scripts where pktlab's TCP still differs from Linux
// (docs/drill.md), with the mismatch it shows: the test requires exactly that, so a
// fix (or a new difference) is noticed.
var userspaceDiffers = map[string]string{
	"icmp-ipv4-only.pkt": "icmp-ipv4-only.pkt:18: error handling packet: bad outbound TCP flags: expected: . actual: P.",
	"icmp-ipv6-only.pkt": "icmp-ipv6-only.pkt:19: error handling packet: bad outbound TCP flags: expected: . actual: P.",
	"window.pkt":         "window.pkt:21: error handling packet: bad outbound TCP flags: expected: P. actual: .",
	// Linux delays the ACK of data with a FIN; the machine ACKs a FIN at once.
	"close-passive.pkt": "close-passive.pkt:19: error handling packet: timing error: expected outbound packet at 0.050000 sec but happened at 0.010000 sec; tolerance 0.010000 sec",
	// The machine ignores URG and the urgent pointer (tcpstate's doc).
	"urgent.pkt": "urgent.pkt:14: error handling packet: bad outbound TCP flags: expected: PU. actual: P.",
	// The machine has NewReno only (Linux's "reno").
	"congestion.pkt": "congestion.pkt:8: runtime error in setsockopt call: Expected result 0 but got -1 with errno 2 (no such file or directory)",
	// After a read of 2000 bytes the machine sends a window update; Linux sends one
	// only when the window would at least double (tcp_cleanup_rbuf).
	"options-calls.pkt": "options-calls.pkt:28: error handling packet: bad outbound TCP flags: expected: P. actual: .",
	// Linux ACKs the first data of a connection at once (quick ACK mode,
	// tcp_in_quickack_mode); the machine delays it 40 ms.
	"passive-open.pkt": "passive-open.pkt:19: error handling packet: timing error: expected outbound packet at 0.010000 sec but happened at 0.050000 sec; tolerance 0.010000 sec",
}

// TestDrillUserspace runs every script against pktlab's own TCP, on its virtual
// clock: each passes as on the kernel, or fails exactly as userspaceDiffers says.
func TestDrillUserspace(t *testing.T) {
	pass, _ := scripts(t)
	for _, f := range pass {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := runScript(t, f, "userspace")
			if want, ok := userspaceDiffers[filepath.Base(f)]; ok {
				if res.Passed() || !strings.HasSuffix(res.Mismatch.Error(), want) {
					t.Fatalf("want the known difference %q, got %v", want, res.Mismatch)
				}
				return
			}
			if !res.Passed() {
				t.Fatalf("%v\nscript: %s\nactual: %s\nsteps:\n%s", res.Mismatch, res.Mismatch.Script, res.Mismatch.Actual, describe(res))
			}
		})
	}
}
