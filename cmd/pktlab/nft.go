package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/testlab"
)

func init() { rootCmd.AddCommand(newNftCmd()) }

// nftOpts are the flags of `pktlab nft`; each action uses the ones it documents.
type nftOpts struct {
	asJSON  bool
	all     bool
	filter  string
	count   int
	timeout time.Duration
}

func newNftCmd() *cobra.Command {
	o := &nftOpts{}
	c := &cobra.Command{
		Use:   "nft LAB NODE apply FILE|- | list | flush | counters | trace",
		Short: "Apply, list, flush, count and trace nftables rules inside a lab node",
		Long: `Rules are written in nft's own syntax (the subset in docs/nft-subset.md) and applied
inside the node only, in one atomic batch: a file with an error changes nothing.

Actions:
  apply FILE|-   parse FILE (or stdin) and apply it in one batch; errors say file:line:col
  list           print the node's ruleset exactly as "nft list ruleset" would
  flush          delete the tables pktlab created in this node (--all: every table)
  counters       print every rule counter and base chain policy counter
  trace          trace packets (matching -f FILTER) through the node's chains, one line per
                 event as "nft monitor trace" prints it (with the hook after the chain),
                 then each packet's path; stops after --count packets or --timeout`,
		Example: `  sudo pktlab nft crs router apply rules.nft
  echo 'table ip t { chain c { type filter hook input priority 0; tcp dport 22 drop; } }' | sudo pktlab nft crs router apply -
  sudo pktlab nft crs router list
  sudo pktlab nft crs router counters --json
  sudo pktlab nft crs router trace -f 'tcp dport 80' --count 3
  sudo pktlab nft crs router flush --all`,
		Args:              cobraArgs(cobra.RangeArgs(3, 4)),
		ValidArgsFunction: completeLabNode,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNft(cmd, o, args)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print data as JSON (list, counters, trace)")
	f.BoolVar(&o.all, "all", false, "flush: delete every table of the node, not only pktlab's")
	f.StringVarP(&o.filter, "filter", "f", "", "trace: nft matches selecting the packets to trace, e.g. 'ip saddr 198.18.1.2 tcp dport 80'")
	f.IntVar(&o.count, "count", 0, "trace: stop after this many packets (0: until --timeout or Ctrl-C)")
	f.DurationVar(&o.timeout, "timeout", 0, "trace: stop after this long (0: no limit)")
	return c
}

func runNft(cmd *cobra.Command, o *nftOpts, args []string) error {
	action := args[2]
	switch action {
	case "apply":
		if len(args) != 4 {
			return usageError("pktlab nft: apply needs FILE or - (see pktlab nft --help)")
		}
	case "list", "flush", "counters", "trace":
		if len(args) != 3 {
			return usageError("pktlab nft: %s takes no argument after it", action)
		}
	default:
		return usageError("pktlab nft: unknown action %q (apply, list, flush, counters, trace)", action)
	}
	return withNode(args[0], args[1], func(_ *testlab.Lab, node *testlab.Node) error {
		conn, err := filter.ForNode(node)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		out := cmd.OutOrStdout()
		switch action {
		case "apply":
			return nftApply(ctx, conn, args[3], cmd.InOrStdin())
		case "list":
			return nftList(ctx, conn, o, out)
		case "flush":
			return nftFlush(ctx, conn, o)
		case "counters":
			return nftCounters(ctx, conn, o, out)
		}
		return nftTrace(ctx, conn, o, out, cmd.ErrOrStderr())
	})
}

func nftApply(ctx context.Context, conn *filter.Conn, file string, stdin io.Reader) error {
	// apply is a short-lived process building one large batch whose parts stay live
	// until it is sent: a collection frees little, and its marking faults in pages
	// (the binary's 5 MB of data and bss, mark bits) that a VM pays microseconds for
	// each. At GOGC=1000 the first collection is due at a heap of about 45 MB, so
	// 10 000 rules apply without one (GODEBUG=gctrace=1), for about 10 % less CPU
	// than GOGC=400 (perf stat). Larger files are collected at 11 times their live
	// heap. GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(1000)
	}
	// A regular file or standard input, bounded by inputfile.Ruleset, and given up at
	// Ctrl-C even when stdin is a pipe nobody writes to.
	var src []byte
	var err error
	name := file
	if file == "-" {
		name = "<stdin>"
		src, err = inputfile.ReadFrom(ctx, name, stdin, inputfile.Ruleset)
	} else {
		src, err = inputfile.Read(ctx, file, inputfile.Ruleset)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return usageError("pktlab nft: read rules: %v", err)
	}
	rs, err := conn.ParseFor(name, src)
	if err != nil {
		var pe *filter.ParseError
		if errors.As(err, &pe) {
			return usageError("%v (nothing was applied)", err)
		}
		return err
	}
	comp, err := filter.Compile(rs)
	if err != nil {
		return usageError("%v (nothing was applied)", err)
	}
	return conn.ApplyCompiled(comp)
}

func nftList(ctx context.Context, conn *filter.Conn, o *nftOpts, out io.Writer) error {
	if o.asJSON {
		rs, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		ifs, err := conn.Interfaces()
		if err != nil {
			return err
		}
		return writeJSON(out, rulesetView(rs, ifs))
	}
	s, err := conn.List(ctx)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, s)
	return err
}

type ruleView struct {
	Handle uint64 `json:"handle"`
	Text   string `json:"text"`
}

type chainView struct {
	Family   string     `json:"family"`
	Table    string     `json:"table"`
	Name     string     `json:"name"`
	Type     string     `json:"type,omitempty"`
	Hook     string     `json:"hook,omitempty"`
	Priority *int32     `json:"priority,omitempty"`
	Policy   string     `json:"policy,omitempty"`
	Rules    []ruleView `json:"rules"`
}

func rulesetView(rs *filter.Ruleset, ifs filter.Interfaces) []chainView {
	var out []chainView
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			v := chainView{Family: t.Family.String(), Table: t.Name, Name: c.Name, Rules: []ruleView{}}
			if b := c.Base; b != nil {
				v.Type, v.Priority, v.Hook = string(b.Type), &b.Priority, b.HookName(t.Family)
				v.Policy = "accept"
				if b.Policy != nil {
					v.Policy = b.Policy.String()
				}
			}
			for _, r := range c.Rules {
				v.Rules = append(v.Rules, ruleView{Handle: r.Handle, Text: filter.RenderRule(t.Family, r, ifs)})
			}
			out = append(out, v)
		}
	}
	return out
}

func nftFlush(ctx context.Context, conn *filter.Conn, o *nftOpts) error {
	if o.all {
		return conn.FlushAll(ctx)
	}
	return conn.FlushOwned(ctx)
}

func nftCounters(ctx context.Context, conn *filter.Conn, o *nftOpts, out io.Writer) error {
	rows, err := conn.Counters(ctx)
	if err != nil {
		return err
	}
	if o.asJSON {
		return writeCounterRowsJSON(out, rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tCHAIN\tHANDLE\tPACKETS\tBYTES\tRULE")
	for _, r := range rows {
		handle, rule := fmt.Sprint(r.Handle), r.Rule
		if r.Handle == 0 {
			handle, rule = "-", "(policy)"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%d\t%d\t%s\n", r.Family, r.Table, r.Chain, handle, r.Packets, r.Bytes, rule)
	}
	return tw.Flush()
}

func nftTrace(ctx context.Context, conn *filter.Conn, o *nftOpts, out, errOut io.Writer) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	tr, err := conn.Trace(ctx, o.filter)
	if err != nil {
		return usageError("%v", err)
	}
	what := "every packet"
	if o.filter != "" {
		what = "packets matching " + o.filter
	}
	fmt.Fprintf(errOut, "pktlab: tracing %s (Ctrl-C to stop)\n", what)
	var events []filter.TraceEvent
	packets := map[uint32]bool{}
	enc := json.NewEncoder(out)
	// After the last wanted packet shows up, keep reading until its events stop
	// (a packet crosses several hooks, each with its own events).
	var quiet <-chan time.Time
loop:
	for {
		select {
		case e, ok := <-tr.Events():
			if !ok {
				break loop
			}
			if o.count > 0 && len(packets) >= o.count && !packets[e.ID] {
				continue
			}
			events = append(events, e)
			packets[e.ID] = true
			if o.asJSON {
				if err := enc.Encode(e); err != nil {
					break loop
				}
			} else {
				if p := e.PacketString(); p != "" {
					fmt.Fprintln(out, p)
				}
				fmt.Fprintln(out, e.String())
			}
			if o.count > 0 && len(packets) >= o.count {
				quiet = time.After(300 * time.Millisecond)
			}
		case <-quiet:
			break loop
		}
	}
	closeErr := tr.Close()
	if err := tr.Err(); err != nil {
		return err
	}
	if !o.asJSON {
		for _, p := range filter.GroupPaths(events) {
			fmt.Fprintf(out, "packet %08x: %s -> %s\n", p.ID, strings.Join(p.Hooks(), " -> "), p.Final())
		}
	}
	return closeErr
}
