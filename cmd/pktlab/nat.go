package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/nat"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

func init() { rootCmd.AddCommand(newNatCmd()) }

func newNatCmd() *cobra.Command {
	var asJSON, watch, flush bool
	c := &cobra.Command{
		Use:   "nat LAB NODE conntrack",
		Short: "Show, watch or flush a lab node's connection tracking table",
		Long: `Lists the node's conntrack entries with their original and reply tuples (a NATed
connection's reply tuple is not the original reversed: the difference is the translation),
TCP state, timeout and mark. --watch prints new, updated and destroyed entries as they
happen until Ctrl-C. --flush empties the node's table. NAT rules themselves are nftables
rules: apply them with "pktlab nft LAB NODE apply".`,
		Example: `  sudo pktlab nat crs router conntrack
  sudo pktlab nat crs router conntrack --json
  sudo pktlab nat crs router conntrack --watch
  sudo pktlab nat crs router conntrack --flush`,
		Args:              cobraArgs(cobra.ExactArgs(3)),
		ValidArgsFunction: completeLabNode,
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[2] != "conntrack" {
				return usageError("pktlab nat: unknown action %q (conntrack)", args[2])
			}
			if watch && flush {
				return usageError("pktlab nat: --watch and --flush exclude each other")
			}
			return withNode(args[0], args[1], func(_ *testlab.Lab, node *testlab.Node) error {
				return natConntrack(cmd, node, asJSON, watch, flush)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print entries (or events) as JSON")
	c.Flags().BoolVar(&watch, "watch", false, "print conntrack events until interrupted")
	c.Flags().BoolVar(&flush, "flush", false, "remove every conntrack entry of the node")
	return c
}

// natConntrack lists, watches or flushes node's conntrack table.
func natConntrack(cmd *cobra.Command, node *testlab.Node, asJSON, watch, flush bool) error {
	ct, err := nat.ForNode(node)
	if err != nil {
		return err
	}
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	switch {
	case flush:
		return ct.Flush(ctx)
	case watch:
		events, wait, err := ct.Watch(ctx)
		if err != nil {
			return err
		}
		for ev := range events {
			if asJSON {
				r := timeline.Record{Type: "conntrack", Time: ev.Time, Node: node.Name(), Body: ev.Record()}
				if err := timeline.WriteRecord(out, r); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(out, "[%s] %-7s %s\n", ev.Time.Format("15:04:05.000"), ev.Type, ev.Entry)
		}
		return wait()
	}
	es, err := ct.List(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeEntries(out, node.Name(), es)
	}
	return printConntrack(out, es)
}

// writeEntries writes a listing as one conntrack record per entry (docs/json.md),
// the events' shape without their type.
func writeEntries(w io.Writer, node string, es []nat.Entry) error {
	for _, e := range es {
		ev := nat.Event{Entry: e}
		if err := timeline.WriteRecord(w, timeline.Record{Type: "conntrack", Node: node, Body: ev.Record()}); err != nil {
			return err
		}
	}
	return nil
}

func printConntrack(w io.Writer, es []nat.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tSTATE\tTIMEOUT\tORIGINAL\tREPLY\tMARK")
	for _, e := range es {
		state := e.State
		if state == "" {
			state = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%ds\t%s\t%s\t%d\n", e.ProtoName(), state, int(e.Timeout.Seconds()), e.Orig, e.Reply, e.Mark)
	}
	return tw.Flush()
}
