package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/drill"
)

func init() { rootCmd.AddCommand(newDrillCmd()) }

type drillFlags struct {
	stack     string
	verbose   bool
	jobs      int
	tolerance int
	ipVersion string
	allowHost bool
	json      bool
	options   []string
}

func newDrillCmd() *cobra.Command {
	var fl drillFlags
	cmd := &cobra.Command{
		Use:   "drill FILE|DIR...",
		Short: "Run packetdrill scripts against the kernel of a lab node or pktlab's userspace TCP",
		Long: `drill runs packetdrill scripts (.pkt). A script is a timeline of what the stack under
test (the "local" side) does and must send, one event a line:

  0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3     a socket call and its result
  +0    bind(3, ..., ...) = 0                          ... : the lab's addresses
  +0    listen(3, 1) = 0
  +0    < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>   < : pktlab sends this to the stack
  +0    > S. 0:0(0) ack 1 <mss 1460,nop,wscale 7>      > : the stack must send this
  +.01  < . 1:1(0) ack 1 win 257
  +0    accept(3, ..., ...) = 4
  +0    read(4, ..., 100) = -1 EAGAIN (Resource temporarily unavailable)
  +0    %{ assert tcpi_snd_mss == 1000 }%              TCP_INFO asserts, evaluated in Go
  ` + "`sysctl -q net.ipv4.tcp_sack=0`" + `                      a shell line, run in the lab node

Times: N from the start, +N from the previous event, A~B a range, * any time,
T...E a blocking call started at T that returns at E. Sequence numbers are relative:
each side starts at 0 for its SYN and 1 after it. Outbound packets are checked field
by field (flags, seq, ack, window if given, options kind by kind, payload length,
time within --tolerance_usecs); the first difference stops the script with
packetdrill's message, e.g.
  x.pkt:12: error handling packet: bad outbound TCP flags: expected: S. actual: S

Kernel stack (default): a fresh lab node whose kernel is the local side; pktlab is the
remote host behind a tun device in the node, as packetdrill is. The node inherits the
machine's congestion control (bbr here); setsockopt(..., TCP_CONGESTION, "reno", 5)
chooses one per socket. A shell line that would write a host-global setting (a sysctl
outside net.) is skipped with a warning unless --allow-host-sysctl.

Userspace stack (--stack userspace): the same script against pktlab's own TCP
(tcpstate) on a virtual clock; --stack both runs both and shows where they part.

What is supported and what is not: docs/drill.md.

Exit status: 0 when every script passes, 1 when one does not, 2 when a script does not
parse (file:line:col and why; nothing is created).`,
		Example: `  sudo pktlab drill drill/testdata/passive-open.pkt
  sudo pktlab drill -v --ip_version=ipv6 drill/testdata/active-open.pkt
  sudo pktlab drill --stack both drill/testdata/passive-open.pkt
  sudo pktlab drill -j 2 drill/testdata/`,
		Args: cobraArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case !cmd.Flags().Changed("tolerance_usecs"):
				fl.tolerance = -1
			case fl.tolerance < 0:
				return usageError("--tolerance_usecs %d: want 0 or more µs", fl.tolerance)
			}
			return runDrill(cmd.Context(), cmd.OutOrStdout(), args, fl)
		},
		ValidArgsFunction: completeFiles,
	}
	f := cmd.Flags()
	f.StringVar(&fl.stack, "stack", "kernel", "the `STACK` under test: kernel, userspace or both")
	f.BoolVarP(&fl.verbose, "verbose", "v", false, "show every event as it happened: its time, the packet sent or seen, the call's result")
	f.IntVarP(&fl.jobs, "jobs", "j", 1, "run up to `N` scripts at once, each in its own lab")
	f.IntVar(&fl.tolerance, "tolerance_usecs", 0, "timing tolerance in `µs` (default: the script's, else 4000)")
	f.StringVar(&fl.ipVersion, "ip_version", "", "ipv4, ipv6 or ipv4-mapped-ipv6 (default: the script's, else ipv4)")
	f.BoolVar(&fl.json, "json", false, "print every event, each run's verdict and the divergence as JSON lines")
	f.BoolVar(&fl.allowHost, "allow-host-sysctl", false, "run shell lines that write host-global settings (they change the whole machine)")
	f.StringArrayVarP(&fl.options, "option", "D", nil, "a script option as `name=value` (e.g. -D mss=1000), as the script's --name=value lines")
	return cmd
}

// drillOptions turns the flags into script options, applied after the script's own.
func drillOptions(fl drillFlags) []drill.Option {
	var o []drill.Option
	if fl.tolerance >= 0 {
		o = append(o, drill.Option{Name: "tolerance_usecs", Value: fmt.Sprint(fl.tolerance)})
	}
	if fl.ipVersion != "" {
		o = append(o, drill.Option{Name: "ip_version", Value: fl.ipVersion})
	}
	for _, s := range fl.options {
		name, value, _ := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		o = append(o, drill.Option{Pos: drill.Pos{File: "-D", Line: 1, Col: 1}, Name: name, Value: value})
	}
	return o
}

// expandScripts turns the arguments into script files: a directory gives its *.pkt.
func expandScripts(args []string) ([]string, error) { return expandFiles(args, "*.pkt", "scripts") }

// loadScripts parses every script and its options first: one that does not parse
// stops everything before a lab is made (exit 2).
func loadScripts(ctx context.Context, paths []string, opts []drill.Option) ([]*drill.Script, error) {
	var scripts []*drill.Script
	var bad []string
	for _, p := range paths {
		s, err := drill.Load(ctx, p)
		if err == nil {
			_, err = drill.Prepare(s, opts)
		}
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		scripts = append(scripts, s)
	}
	if len(bad) > 0 {
		return nil, usageError("%s", strings.Join(bad, "\n"))
	}
	return scripts, nil
}

func runDrill(ctx context.Context, stdout io.Writer, args []string, fl drillFlags) error {
	if fl.stack != "kernel" && fl.stack != "userspace" && fl.stack != "both" {
		return usageError("--stack %q: want kernel, userspace or both", fl.stack)
	}
	if fl.jobs < 1 || fl.jobs > 64 {
		return usageError("-j %d: want 1 to 64", fl.jobs)
	}
	paths, err := expandScripts(args)
	if err != nil {
		return err
	}
	opts := drillOptions(fl)
	scripts, err := loadScripts(ctx, paths, opts)
	if err != nil {
		return err
	}
	if fl.stack != "userspace" {
		if err := requireRoot(); err != nil {
			return err
		}
	}
	outcomes := runScripts(ctx, scripts, opts, fl)
	failed := 0
	for _, o := range outcomes {
		stdout.Write(o.text)
		if !o.passed {
			failed++
		}
	}
	if len(outcomes) > 1 && !fl.json {
		printDrillSummary(stdout, outcomes)
	}
	if err := interrupted(ctx); err != nil {
		return err
	}
	if failed > 0 {
		return exitWith(exitFailure, nil)
	}
	return nil
}

// drillOutcome is one script's printed report and verdict.
type drillOutcome struct {
	path   string
	passed bool
	status string
	wall   time.Duration
	text   []byte
}

// runScripts runs the scripts, up to fl.jobs at once, and returns their outcomes in
// the order given.
func runScripts(ctx context.Context, scripts []*drill.Script, opts []drill.Option, fl drillFlags) []drillOutcome {
	out := make([]drillOutcome, len(scripts))
	sem := make(chan struct{}, fl.jobs)
	var wg sync.WaitGroup
	for i, s := range scripts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = runOneScript(ctx, s, opts, fl)
		}()
	}
	wg.Wait()
	return out
}

func runOneScript(ctx context.Context, s *drill.Script, opts []drill.Option, fl drillFlags) drillOutcome {
	o := drillOutcome{path: s.File}
	var b bytes.Buffer
	stacks := []string{fl.stack}
	if fl.stack == "both" {
		stacks = []string{"kernel", "userspace"}
	}
	var results []*drill.Result
	for _, st := range stacks {
		start := time.Now()
		res, err := drill.Run(ctx, s, drill.Options{Stack: st, Flags: opts, AllowHostSysctl: fl.allowHost})
		o.wall += time.Since(start)
		if err != nil {
			fmt.Fprintf(&b, "%s: %s stack: %v\n", s.File, st, err)
			o.status, o.text = "error", b.Bytes()
			return o
		}
		if fl.json {
			writeDrillJSON(&b, res)
		} else {
			writeDrillResult(&b, res, fl.verbose)
		}
		results = append(results, res)
	}
	o.passed = true
	for _, r := range results {
		o.passed = o.passed && r.Passed()
	}
	o.status = map[bool]string{true: "pass", false: "FAIL"}[o.passed]
	if len(results) == 2 {
		d := drill.Compare(results[0], results[1])
		if fl.json {
			newJSONLines(&b).Encode(drillDivergenceJSON(s.File, d))
		} else {
			writeDrillCompare(&b, d)
		}
	}
	o.text = b.Bytes()
	return o
}

func writeDrillResult(w io.Writer, res *drill.Result, verbose bool) {
	if verbose {
		for _, st := range res.Steps {
			fmt.Fprintf(w, "  %s %11s  %s\n", res.Stack, fmt.Sprintf("%.6f", st.At.Seconds()), drillStepText(res, st))
		}
	}
	for _, wmsg := range res.Warnings {
		fmt.Fprintf(w, "%s\n", wmsg)
	}
	if res.Passed() {
		fmt.Fprintf(w, "%s: pass (%s stack, script time %.3f s, wall %v)\n", res.Script.File, res.Stack, res.End.Seconds(), res.Wall.Round(time.Microsecond))
		return
	}
	m := res.Mismatch
	fmt.Fprintf(w, "%s (%s stack)\n", m.Error(), res.Stack)
	if m.Script != "" {
		fmt.Fprintf(w, "script packet: %s\nactual packet: %s\n", m.Script, m.Actual)
	}
}

func drillStepText(res *drill.Result, st drill.Step) string {
	e := st.Event
	text := fmt.Sprintf("%s:%d", filepath.Base(e.Pos.File), e.Pos.Line)
	switch e.Kind {
	case drill.EventPacket:
		return text + "  " + st.Packet
	case drill.EventSyscall:
		return text + "  " + e.Call.Name + "(…) " + st.Result
	case drill.EventShell:
		return strings.TrimSpace(text + "  `" + e.Shell + "` " + st.Note)
	}
	return text + "  %{ … }% asserts"
}

func writeDrillCompare(w io.Writer, d *drill.Divergence) {
	if d == nil {
		fmt.Fprintln(w, "kernel and userspace agree on every event")
		return
	}
	fmt.Fprintf(w, "first divergence at %s:%d:\n  %-9s %s\n  %-9s %s\n", d.Pos.File, d.Pos.Line, "kernel", d.Kernel, "userspace", d.User)
}

func printDrillSummary(w io.Writer, outs []drillOutcome) {
	fmt.Fprintf(w, "\n%-50s %-6s %s\n", "script", "result", "wall")
	pass := 0
	for _, o := range outs {
		fmt.Fprintf(w, "%-50s %-6s %.3f s\n", o.path, o.status, o.wall.Seconds())
		if o.passed {
			pass++
		}
	}
	fmt.Fprintf(w, "%d of %d passed\n", pass, len(outs))
}

// drillEventJSON is one event of a run, as --json prints it.
type drillEventJSON struct {
	Type     string  `json:"type"` // "event"
	Script   string  `json:"script"`
	Stack    string  `json:"stack"`
	Line     int     `json:"line"`
	Kind     string  `json:"kind"`
	Expected float64 `json:"expected_s"`
	At       float64 `json:"at_s"`
	Packet   string  `json:"packet,omitempty"`
	Result   string  `json:"result,omitempty"`
	Note     string  `json:"note,omitempty"`
}

// drillResultJSON is a run's verdict.
type drillResultJSON struct {
	Type     string          `json:"type"` // "result"
	Script   string          `json:"script"`
	Stack    string          `json:"stack"`
	Passed   bool            `json:"passed"`
	Mismatch *drill.Mismatch `json:"mismatch,omitempty"`
	Message  string          `json:"message,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	End      float64         `json:"script_s"`
	Wall     float64         `json:"wall_s"`
}

// newJSONLines writes one JSON value a line, packets' < and > left as they are.
func newJSONLines(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func writeDrillJSON(w io.Writer, res *drill.Result) {
	enc := newJSONLines(w)
	for _, st := range res.Steps {
		enc.Encode(drillEventJSON{Type: "event", Script: res.Script.File, Stack: res.Stack, Line: st.Event.Pos.Line,
			Kind: st.Event.Kind.String(), Expected: st.Expected.Seconds(), At: st.At.Seconds(), Packet: st.Packet, Result: st.Result, Note: st.Note})
	}
	r := drillResultJSON{Type: "result", Script: res.Script.File, Stack: res.Stack, Passed: res.Passed(), Mismatch: res.Mismatch,
		Warnings: res.Warnings, End: res.End.Seconds(), Wall: res.Wall.Seconds()}
	if res.Mismatch != nil {
		r.Message = res.Mismatch.Error()
	}
	enc.Encode(r)
}

func drillDivergenceJSON(script string, d *drill.Divergence) any {
	type div struct {
		Type   string `json:"type"` // "divergence"
		Script string `json:"script"`
		Agree  bool   `json:"agree"`
		Line   int    `json:"line,omitempty"`
		Kernel string `json:"kernel,omitempty"`
		User   string `json:"userspace,omitempty"`
	}
	if d == nil {
		return div{Type: "divergence", Script: script, Agree: true}
	}
	return div{Type: "divergence", Script: script, Line: d.Pos.Line, Kernel: d.Kernel, User: d.User}
}
