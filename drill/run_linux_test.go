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
	files, err := filepath.Glob("testdata/*.pkt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	for _, f := range files {
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

var loadedTolerance = Option{Name: "tolerance_usecs", Value: "150000"}

// TestDrillKernel runs every passing script against the kernel over IPv4 and IPv6.
func TestDrillKernel(t *testing.T) {
	privtest.Require(t)
	pass, _ := scripts(t)
	for _, ipv := range []string{"ipv4", "ipv6"} {
		for _, f := range pass {
			t.Run(ipv+"/"+filepath.Base(f), func(t *testing.T) {
				if ipv == "ipv6" && strings.Contains(f, "ipv4-only") {
					t.Skip("script is IPv4 only")
				}
				// The scripts' own tolerance (50 ms) holds on an idle machine; on a
				// loaded 2-core CI machine the sniffer's wake-up alone can take longer.
				res := runScript(t, f, "kernel", Option{Name: "ip_version", Value: ipv}, loadedTolerance)
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
