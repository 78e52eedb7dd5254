package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/picture"
	"github.com/pktlab/pktlab/timeline"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

type runFlags struct {
	write string
	keep  bool
	json  bool
	jobs  int
	cwnd  bool
	html  string
	pic   pictureFlags
	trace *ktrace.Tracer // opened once for all files; nil polls sock_diag
}

func newRunCmd() *cobra.Command {
	var fl runFlags
	cmd := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run experiment files: build the lab, run the steps, show the timeline, check expectations",
		Long: `run executes experiment files (see examples/README.md): each builds its lab, applies
nftables rulesets and sysctls, captures every link, runs its steps (socket calls through
the kernel socket agent, pktlab's userspace TCP, crafted packets, packet sockets of the
file's own, sysctl and nft changes, sleeps, waits), prints one timeline of frames,
socket calls, TCP state changes, nftables trace verdicts, conntrack events and what the
file's packet sockets received, then checks each expectation and says what was seen
instead when one fails. A directory runs every *.yaml file in it.

A craft step builds a packet as pktlab send does, with the same fields as YAML keys:
IPv4 or IPv6 src/dst, ttl, tos, id, df, ip_options; tcp (flags, seq, ack, window,
urg_ptr, mss, sackok, sack, ts, wscale, tcp_option), udp or icmp (type, code, id, seq,
mtu); data or size; corruption (bad_checksum, bad_ip_checksum, ip_length, udp_length,
data_offset, truncate_option); count and interval. It goes through the node's routing
on a raw IP socket, or with via: IFACE as an Ethernet frame on a packet socket, with
src_mac and dst_mac (see examples/README.md).

One file's timeline streams: each line is printed about 100 ms after its event (so
that the two copies of a frame on a link pair), the flows and outcomes at the end (a
failed expectation is marked inline too, where it was checked). The
text leaves out link-local multicast chatter (MLD reports, solicitations to multicast,
IPv6 link-local) and counts it after the flows; --chatter shows it, --json keeps all.

Exit status: 0 when every expectation of every file holds, 1 otherwise, 2 when a file
is invalid (then nothing is created), 128 + the signal on SIGINT or SIGTERM (the
timeline so far, "run interrupted", no expectation checked, the lab removed), 141 when
the output pipe closes.`,
		Example: `  sudo pktlab run examples/C1.yaml
  sudo pktlab run -w handshake.pcapng examples/C1.yaml && tshark -r handshake.pcapng
  sudo pktlab run -j 4 examples/
  sudo pktlab run --keep examples/E2.yaml   # then: pktlab lab ls
  sudo pktlab run --ladder examples/C1.yaml`,
		Args: cobraArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fl.pic.validate(); err != nil {
				return err
			}
			fl.pic.resolve(cmd.OutOrStdout())
			return runExperiments(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args, fl)
		},
		ValidArgsFunction: completeFiles,
	}
	cmd.Flags().StringVarP(&fl.write, "write", "w", "", "write the captured frames as pcapng to `FILE` (one interface per link end, annotations as packet comments); one experiment only")
	cmd.Flags().BoolVar(&fl.keep, "keep", false, "leave the lab up after the run, to explore it with the other commands")
	cmd.Flags().BoolVar(&fl.json, "json", false, "print the timeline and outcomes as JSON lines")
	cmd.Flags().IntVarP(&fl.jobs, "jobs", "j", 1, "run up to `N` experiments at once, each in its own lab")
	cmd.Flags().BoolVar(&fl.cwnd, "cwnd", false, "add the kernel's congestion samples (tcp:tcp_probe: cwnd, ssthresh, srtt, windows) to the timeline")
	cmd.Flags().StringVar(&fl.html, "html", "", "write an HTML report (ladder, time-sequence graphs, expectations) to `FILE`; one experiment only")
	fl.pic.textChatter = true
	fl.pic.register(cmd.Flags())
	return cmd
}

// expandArgs turns the arguments into experiment files: directories give their *.yaml
// files, sorted.
func expandArgs(args []string) ([]string, error) {
	return expandFiles(args, "*.yaml", "experiment files")
}

// expandFiles turns file and directory arguments into files: a directory gives its
// files matching pattern, sorted (what names them in the error for an empty one).
func expandFiles(args []string, pattern, what string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, usageError("%v", err)
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		m, _ := filepath.Glob(filepath.Join(a, pattern))
		if len(m) == 0 {
			return nil, usageError("directory %s holds no %s %s", a, pattern, what)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

func runExperiments(ctx context.Context, stdout, stderr io.Writer, args []string, fl runFlags) error {
	paths, err := expandArgs(args)
	if err != nil {
		return err
	}
	if (fl.write != "" || fl.html != "") && len(paths) != 1 {
		return usageError("-w and --html write one experiment's frames; give one file (got %d)", len(paths))
	}
	if fl.jobs < 1 {
		return usageError("-j must be at least 1")
	}
	var files []*experiment.File
	var bad []string
	for _, p := range paths {
		f, err := experiment.Load(p)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		files = append(files, f)
	}
	if len(bad) > 0 {
		return usageError("invalid experiment file(s); nothing was run:\n%s", strings.Join(bad, "\n"))
	}
	if err := requireRoot(); err != nil {
		return err
	}
	ctx, stopPipe := onBrokenPipe(ctx)
	defer stopPipe()
	if fl.trace, err = openRunTracer(stderr, fl.cwnd); err != nil {
		return err
	}
	if fl.trace != nil {
		defer fl.trace.Close()
	}
	outs := make([]chan []byte, len(files))
	fails := make([]bool, len(files))
	sem := make(chan struct{}, fl.jobs)
	var wg sync.WaitGroup
	for i, f := range files {
		outs[i] = make(chan []byte, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if len(files) == 1 { // the one report streams straight out
				fails[i] = !runOne(ctx, stdout, stderr, f, fl, true)
				outs[i] <- nil
				return
			}
			var buf bytes.Buffer
			fails[i] = !runOne(ctx, &buf, stderr, f, fl, false)
			outs[i] <- buf.Bytes()
		}()
	}
	for i := range files {
		stdout.Write(<-outs[i])
	}
	wg.Wait()
	failed := 0
	for _, f := range fails {
		if f {
			failed++
		}
	}
	if len(files) > 1 && !fl.json {
		fmt.Fprintf(stdout, "\n%d of %d experiments passed\n", len(files)-failed, len(files))
	}
	if sig := interrupted(ctx); sig != nil {
		return sig
	}
	if failed > 0 {
		return exitWith(exitFailure, nil)
	}
	return nil
}

// runOne runs one experiment and writes its report to w, the timeline as the run
// goes (runStream) unless it is drawn as a ladder; it reports whether every
// expectation held.
func runOne(ctx context.Context, w, stderr io.Writer, f *experiment.File, fl runFlags, single bool) bool {
	opts := experiment.Options{Keep: fl.keep, Tracer: fl.trace, Congestion: fl.cwnd, Progress: runProgress(stderr, single)}
	out, flush := w, func() {}
	if !fl.json {
		out, flush = fl.pic.textOut(w)
	}
	var live *runStream
	if fl.json || !fl.pic.ladder {
		live = &runStream{w: out, f: f, json: fl.json, chatter: fl.pic.chatter, clear: opts.Progress != nil && !fl.json && isTerminal(w)}
		opts.Watch = live.watch
	}
	res, err := experiment.Run(ctx, f, opts)
	if live != nil && !live.close() {
		live = nil // the run failed before its timeline existed: nothing streamed
	}
	if sig := interrupted(ctx); sig != nil && !errors.Is(err, experiment.ErrInterrupted) {
		// A run that a signal ended saw only part of the experiment: it neither
		// passes nor fails, it was interrupted.
		err = fmt.Errorf("%w: %w", experiment.ErrInterrupted, sig)
	}
	if opts.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	writeRunReport(out, f, res, err, &fl, live)
	flush()
	if err == nil && fl.write != "" && res != nil {
		if werr := writePcapng(fl.write, res); werr != nil {
			writeRunNote(w, fl.json, fmt.Sprintf("pktlab: %v", werr))
			return false
		}
	}
	if fl.html != "" && res != nil && res.Timeline != nil {
		if herr := writeRunHTML(fl.html, f, res, err); herr != nil {
			fmt.Fprintf(w, "pktlab: %v\n", herr)
			return false
		}
	}
	if res != nil && res.Lab != nil {
		writeRunNote(w, fl.json, fmt.Sprintf("lab %s left up (--keep): explore with `pktlab lab show %s`, remove with `pktlab lab down %s`", res.LabName, res.LabName, res.LabName))
		res.Lab.Release()
	}
	return err == nil && res.Passed()
}

// runProgress is the Progress of a single run on a terminal: a line on stderr
// rewritten in place; nil otherwise.
func runProgress(stderr io.Writer, single bool) func(string, time.Duration, time.Duration) {
	if !single || !isTerminal(stderr) {
		return nil
	}
	return func(what string, elapsed, total time.Duration) {
		fmt.Fprintf(stderr, "\r%s: %s of %s   ", what, elapsed.Round(time.Second), total)
		if total-elapsed < time.Second {
			fmt.Fprint(stderr, "\r\033[K")
		}
	}
}

// writeRunReport writes what the run's report still lacks once the run ended: all
// of it, or after a streamed timeline (streamed non-nil) the flows and outcomes.
func writeRunReport(w io.Writer, f *experiment.File, res *experiment.Result, err error, fl *runFlags, streamed *runStream) {
	switch {
	case fl.json && streamed != nil:
		timeline.WriteRecord(w, resultRecord(f, res, err))
	case fl.json:
		writeRunJSON(w, f, res, err)
	case streamed != nil:
		streamed.writeEnd(w)
		writeRunTail(w, f, res, err)
	default:
		writeRunText(w, f, res, err, &fl.pic)
	}
}

func writePcapng(path string, res *experiment.Result) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write pcapng: %w", err)
	}
	if err := res.Timeline.WritePcapng(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeRunText(w io.Writer, f *experiment.File, res *experiment.Result, err error, pic *pictureFlags) {
	lab := ""
	if res != nil {
		lab = res.LabName
	}
	writeRunHead(w, f, lab)
	if res != nil && res.Timeline != nil {
		if perr := pic.writeTimeline(w, res.Timeline); perr != nil {
			fmt.Fprintf(w, "pktlab: %v\n", perr)
		}
	}
	writeRunTail(w, f, res, err)
}

// writeRunHead is the head of a run's text report: the file, its lab, its comment.
func writeRunHead(w io.Writer, f *experiment.File, lab string) {
	fmt.Fprintf(w, "=== %s", f.Path)
	if lab != "" {
		fmt.Fprintf(w, " (lab %s)", lab)
	}
	fmt.Fprintln(w)
	if f.Comment != "" {
		for _, l := range strings.Split(f.Comment, "\n") {
			fmt.Fprintln(w, "# "+l)
		}
		fmt.Fprintln(w)
	}
}

// writeRunTail closes a run's text report: why it failed, if it did, and each
// expectation's outcome with the verdict.
func writeRunTail(w io.Writer, f *experiment.File, res *experiment.Result, err error) {
	if errors.Is(err, experiment.ErrInterrupted) {
		fmt.Fprintf(w, "=== %s: %v; the timeline above is what it saw, the expectations were not checked\n", f.Path, err)
		return
	}
	if err != nil {
		fmt.Fprintf(w, "RUN FAILED: %v\n", err)
	}
	if res == nil {
		return
	}
	fmt.Fprintln(w, "--- expectations")
	pass := 0
	for _, o := range res.Outcomes {
		mark := "PASS"
		if o.Pass {
			pass++
		} else {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %s (%s)\n     want: %s\n     seen: %s\n", mark, o.Expect.Pos, o.Where, o.Want, o.Seen)
	}
	verdict := "PASS"
	if pass != len(res.Outcomes) || err != nil {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "=== %s %s: %d/%d expectations held (%s)\n", verdict, f.Path, pass, len(res.Outcomes), res.Duration.Round(time.Millisecond))
}

// runJSON is the body of a run's first line: which file, in which lab, and the
// experiment's comment (which pktlab report shows).
type runJSON struct {
	File    string `json:"file"`
	Lab     string `json:"lab,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// resultJSON is the body of a run's last line.
type resultJSON struct {
	File   string `json:"file"`
	OK     bool   `json:"ok"`
	Passed int    `json:"passed"`
	Total  int    `json:"total"`
	Error  string `json:"error,omitempty"`
}

// writeRunJSON writes a run as docs/json.md says: a "run" line, the timeline's
// records (the expectations' outcomes among them; frames with their bytes, for
// pktlab report) and a "result" line.
func writeRunJSON(w io.Writer, f *experiment.File, res *experiment.Result, err error) {
	head := timeline.Record{Type: "run", Body: runJSON{File: f.Path, Comment: f.Comment}}
	if res != nil {
		head.Body = runJSON{File: f.Path, Lab: res.LabName, Comment: f.Comment}
	}
	if res != nil && res.Timeline != nil {
		head.Time = res.Timeline.Start
	}
	timeline.WriteRecord(w, head)
	if res != nil && res.Timeline != nil {
		for _, e := range res.Timeline.Events() {
			timeline.WriteRecord(w, picture.RunRecord(res.Timeline, e))
		}
	}
	timeline.WriteRecord(w, resultRecord(f, res, err))
}

// resultRecord is a run's last JSON line: how many expectations held.
func resultRecord(f *experiment.File, res *experiment.Result, err error) timeline.Record {
	sum := resultJSON{File: f.Path}
	if err != nil {
		sum.Error = err.Error()
	}
	if res != nil {
		for _, o := range res.Outcomes {
			if o.Pass {
				sum.Passed++
			}
		}
		sum.Total = len(res.Outcomes)
		sum.OK = err == nil && sum.Passed == sum.Total
	}
	return timeline.Record{Type: "result", Body: sum}
}

// writeRunNote is a line the run adds after its report: text, or a note record.
func writeRunNote(w io.Writer, asJSON bool, text string) {
	if asJSON {
		timeline.WriteRecord(w, timeline.Record{Type: "note", Body: timeline.Note{Text: text}})
		return
	}
	fmt.Fprintln(w, text)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
