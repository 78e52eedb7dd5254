package capfilter

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

// tcpdumpProg is what tcpdump compiled for one expression: a program, or the error
// it printed.
type tcpdumpProg struct {
	expr string
	prog []bpf.RawInstruction
	err  string
}

// dltName is the name tcpdump -y takes for a link type.
func dltName(lt LinkType) string {
	if lt == LinkTypeRaw {
		return "RAW"
	}
	return "EN10MB"
}

func goldenPath(lt LinkType) string {
	return filepath.Join("testdata", "tcpdump-"+dltName(lt)+".golden")
}

// runTcpdump compiles expr with the installed tcpdump: "tcpdump -ddd -y DLT EXPR"
// prints the program as decimal "code jt jf k" lines after an instruction count
// (tcpdump(8) -ddd). A refusal is returned as tcpdumpProg.err.
func runTcpdump(t testing.TB, expr string, lt LinkType) tcpdumpProg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tcpdump", "-ddd", "-y", dltName(lt), expr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run tcpdump for %q: %v", expr, err)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return tcpdumpProg{expr: expr, err: strings.ReplaceAll(msg, "\n", " ")}
	}
	prog, err := parseDDD(stdout.String())
	if err != nil {
		t.Fatalf("tcpdump -ddd %q: %v", expr, err)
	}
	return tcpdumpProg{expr: expr, prog: prog}
}

// parseDDD parses tcpdump -ddd output.
func parseDDD(s string) ([]bpf.RawInstruction, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || n != len(lines)-1 {
		return nil, fmt.Errorf("bad instruction count line %q for %d lines", lines[0], len(lines)-1)
	}
	var prog []bpf.RawInstruction
	for _, l := range lines[1:] {
		var ri bpf.RawInstruction
		if _, err := fmt.Sscanf(l, "%d %d %d %d", &ri.Op, &ri.Jt, &ri.Jf, &ri.K); err != nil {
			return nil, fmt.Errorf("parse %q: %v", l, err)
		}
		prog = append(prog, ri)
	}
	return prog, nil
}

// Golden file format, one block per expression, blank line between blocks:
//
//	expr: tcp port 80
//	20
//	40 0 0 12
//	…
//
// or "expr: …" followed by "error: tcpdump's message".
func writeGolden(path string, progs []tcpdumpProg) error {
	var b strings.Builder
	b.WriteString("# tcpdump -ddd output; regenerate with: go test ./rawsock/capfilter -run TestConformance -update\n")
	for _, p := range progs {
		fmt.Fprintf(&b, "\nexpr: %s\n", p.expr)
		if p.err != "" {
			fmt.Fprintf(&b, "error: %s\n", p.err)
			continue
		}
		fmt.Fprintf(&b, "%d\n", len(p.prog))
		for _, ri := range p.prog {
			fmt.Fprintf(&b, "%d %d %d %d\n", ri.Op, ri.Jt, ri.Jf, ri.K)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func readGolden(path string) (map[string]tcpdumpProg, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]tcpdumpProg)
	var cur *tcpdumpProg
	var body []string
	flush := func() error {
		if cur == nil {
			return nil
		}
		if len(body) > 0 {
			prog, err := parseDDD(strings.Join(body, "\n"))
			if err != nil {
				return fmt.Errorf("%s: %q: %v", path, cur.expr, err)
			}
			cur.prog = prog
		}
		out[cur.expr] = *cur
		cur, body = nil, nil
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#"), l == "":
		case strings.HasPrefix(l, "expr: "):
			if err := flush(); err != nil {
				return nil, err
			}
			cur = &tcpdumpProg{expr: strings.TrimPrefix(l, "expr: ")}
		case strings.HasPrefix(l, "error: ") && cur != nil:
			cur.err = strings.TrimPrefix(l, "error: ")
		case cur != nil:
			body = append(body, l)
		}
	}
	return out, flush()
}

// tcpdumpAvailable reports whether tcpdump can be run; under CI=true it must be.
func tcpdumpAvailable(t testing.TB) bool {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tcpdump is not installed but CI=true: apt-get install tcpdump (the conformance test compares against it)")
		}
		return false
	}
	return true
}
