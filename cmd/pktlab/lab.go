package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"

	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/testlab"
)

func init() { rootCmd.AddCommand(newLabCmd()) }

func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Bring labs of network namespaces up and down, inspect them, run commands in their nodes",
		Long: `A lab is a set of nodes (network namespaces named pktlab-<lab>-<node>) joined by veth
links, described by a YAML topology file; see examples/labs/ and docs/topology.md.
Node names hold no '-', so each namespace name says which lab and node it is.
A lab stays up until "pktlab lab down"; other pktlab commands and "ip netns exec" can use
it meanwhile. "pktlab lab ls" shows each lab's creator (pid, command, start time) and
whether it is up, in use by a running process, or orphaned by one that died.`,
		Example: `  sudo pktlab lab up examples/labs/client-router-server.yaml
  sudo pktlab lab ls
  sudo pktlab lab show crs
  sudo pktlab lab exec crs client -- ip route
  sudo pktlab lab down crs`,
	}
	c.AddCommand(newLabUpCmd(), newLabDownCmd(), newLabLsCmd(), newLabShowCmd(), newLabExecCmd())
	return c
}

func newLabUpCmd() *cobra.Command {
	var asJSON, check bool
	var lim testlab.Limits
	c := &cobra.Command{
		Use:   "up FILE",
		Short: "Create a lab from a topology file",
		Long: fmt.Sprintf(`Validates the topology, then creates its namespaces, links, addresses, routes and
sysctls. Bad input creates nothing and exits 2. Ctrl-C or SIGTERM while the lab is being
created removes what was created so far.

A topology is a regular file of at most %s, with at most %d nodes, %d links and
%d interfaces per node unless --max-nodes, --max-links or --max-interfaces say more.
Sysctls are checked to exist in a lab node: as root in a new, empty namespace, and
otherwise (--check as a user) in the host's /proc/sys/net.`,
			inputfile.Size(inputfile.Topology.Limit), testlab.DefaultLimits.Nodes, testlab.DefaultLimits.Links, testlab.DefaultLimits.Interfaces),
		Example: `  sudo pktlab lab up examples/labs/nat.yaml
  pktlab lab up --check examples/labs/nat.yaml     # validate only; needs no privileges
  sudo pktlab lab up --max-nodes 1000 big.yaml`,
		Args:              cobraArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeFiles,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lim.Nodes <= 0 || lim.Links <= 0 || lim.Interfaces <= 0 {
				return usageError("lab up: --max-nodes, --max-links and --max-interfaces take a positive number")
			}
			topo, err := testlab.Load(cmd.Context(), args[0], lim)
			if err != nil {
				return usageError("%v", err)
			}
			if check {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: lab %s is valid: %d nodes, %d links\n", args[0], topo.Name, len(topo.Nodes), len(topo.Links))
				return nil
			}
			if err := requireRoot(); err != nil {
				return err
			}
			start := time.Now()
			l, err := testlab.Start(cmd.Context(), topo)
			if err != nil {
				return err
			}
			v := describeLab(l)
			// Left up on purpose: the state no longer says this process holds it.
			if err := l.Release(); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab %s is up (%d nodes, %d links) in %v\n", l.Name(), len(topo.Nodes), len(topo.Links), time.Since(start).Round(time.Millisecond))
			printLab(cmd.OutOrStdout(), v)
			fmt.Fprintf(cmd.OutOrStdout(), "\nrun a command in a node: pktlab lab exec %s %s -- ip addr\nremove it:               pktlab lab down %s\n", l.Name(), topo.Nodes[0].Name, l.Name())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the lab as JSON")
	c.Flags().BoolVar(&check, "check", false, "only validate the file")
	c.Flags().IntVar(&lim.Nodes, "max-nodes", testlab.DefaultLimits.Nodes, "refuse a topology with more nodes")
	c.Flags().IntVar(&lim.Links, "max-links", testlab.DefaultLimits.Links, "refuse a topology with more links")
	c.Flags().IntVar(&lim.Interfaces, "max-interfaces", testlab.DefaultLimits.Interfaces, "refuse a node with more interfaces")
	return c
}

func newLabDownCmd() *cobra.Command {
	var all, force bool
	c := &cobra.Command{
		Use:   "down NAME… | --all",
		Short: "Remove labs",
		Long: `Removes the named labs: their namespaces (and with them every link, address, route
and nftables table inside) and their state files. It also removes a lab whose creator
crashed, whose state file is corrupt, or whose namespaces were left without a state file.
A lab in use by a running process (pktlab run, a test) is refused: stop the process, or
give --force.

--all removes what crashed runs left: every orphaned lab (its creator died without
removing it), namespaces named pktlab-* that belong to no lab, and links named pktlab-*
in the host namespace. It keeps labs that are up (pktlab lab up), in use or being
created, and says which; --all --force removes every lab on the machine, other
people's included.`,
		Example: `  sudo pktlab lab down crs
  sudo pktlab lab down --all            # what crashes left; live labs stay
  sudo pktlab lab down --force x-c1-1a2b3c`,
		ValidArgsFunction: completeLabs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageError("lab down: name the labs to remove, or give --all (see pktlab lab down --help)")
			}
			if err := requireRoot(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if all {
				r, err := testlab.DownAll(force)
				fmt.Fprintf(out, "removed %d labs, %d namespaces, %d orphan links\n", len(r.Labs), len(r.Namespaces), len(r.Links))
				for _, s := range r.Kept {
					fmt.Fprintf(out, "kept lab %s: %s%s\n", s.Name, s.Status(), ownerText(s))
				}
				if len(r.Kept) > 0 {
					fmt.Fprintln(out, "(pktlab lab down NAME removes one of them; --all --force removes them all)")
				}
				return err
			}
			var errs []error
			for _, name := range args {
				down := testlab.Down
				if force {
					down = testlab.ForceDown
				}
				if err := down(name); err != nil {
					var inUse *testlab.InUseError
					if errors.Is(err, os.ErrNotExist) || errors.As(err, &inUse) {
						errs = append(errs, usageError("%v", err))
					} else {
						errs = append(errs, err)
					}
					continue
				}
				fmt.Fprintf(out, "lab %s removed\n", name)
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVar(&all, "all", false, "remove every orphaned lab and pktlab leftover")
	c.Flags().BoolVar(&force, "force", false, "also remove labs in use by a running process")
	return c
}

// ownerText is ", pid N (command)" for a lab whose creator is known.
func ownerText(s *testlab.State) string {
	if s.PID == 0 {
		return ""
	}
	return fmt.Sprintf(", pid %d (%s)", s.PID, s.Command)
}

func newLabLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls",
		Short: "List labs, with whose each is and whether its creator still runs",
		Long: `Lists every lab with a state file in /run/pktlab. STATUS is one of:
  up        left up on purpose (pktlab lab up, run --keep)
  in use    held by its creator, which is running (pktlab run, a test)
  creating  being created by a running process
  orphaned  its creator died without removing it: pktlab lab down NAME
  broken    the state file cannot be read: pktlab lab down NAME
A creator is alive when its pid exists, is not a zombie and started when the creator
did (/proc/PID/stat), so a pid the kernel gave to another process counts as dead.`,
		Example: `  sudo pktlab lab ls
  sudo pktlab lab ls --json`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			states, err := testlab.List()
			if err != nil {
				return err
			}
			type row struct {
				Name    string    `json:"name"`
				Status  string    `json:"status"`
				Nodes   int       `json:"nodes"`
				Links   int       `json:"links"`
				File    string    `json:"file,omitempty"`
				PID     int       `json:"pid"`
				Command string    `json:"command,omitempty"`
				Started time.Time `json:"started,omitzero"`
				Created time.Time `json:"created,omitzero"`
				Error   string    `json:"error,omitempty"`
			}
			rows := []row{}
			for _, s := range states {
				r := row{Name: s.Name, Status: s.Status().String(), File: s.File, PID: s.PID, Command: s.Command, Started: s.Started, Created: s.Created}
				if s.Err != nil {
					r.Error = s.Err.Error()
				} else if t, err := s.Topology(); err == nil {
					r.Nodes, r.Links = len(t.Nodes), len(t.Links)
				}
				rows = append(rows, r)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no labs are up")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tNODES\tLINKS\tPID\tSTARTED\tCOMMAND")
			for _, r := range rows {
				status := r.Status
				if r.Status == "orphaned" || r.Status == "broken" {
					status += " (pktlab lab down " + r.Name + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Name, status, r.Nodes, r.Links, pidText(r.PID), timeText(r.Started), shorten(r.Command, 50))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func pidText(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

// timeText shows a time of today as its clock time, an older one with its date.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.Local()
	if y, m, d := t.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return t.Format(time.TimeOnly)
	}
	return t.Format(time.DateTime)
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func newLabShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a lab's nodes, interfaces, addresses and routes, like ip -br",
		Example: `  sudo pktlab lab show crs
  sudo pktlab lab show crs --json | jq '.nodes[].interfaces'`,
		Args:              cobraArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: completeLabs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := openLab(args[0])
			if err != nil {
				return err
			}
			defer l.Release()
			d := describeLab(l)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), d)
			}
			printLab(cmd.OutOrStdout(), d)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newLabExecCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "exec NAME NODE -- CMD [ARG…]",
		Short: "Run a command inside a lab node's network namespace",
		Long: `Runs CMD with its standard input and output connected to this terminal, inside the
node's network namespace, and exits with its exit status. The same as
"ip netns exec pktlab-NAME-NODE CMD…", without needing iproute2.`,
		Example: `  sudo pktlab lab exec crs client -- ip -br addr
  sudo pktlab lab exec crs router -- nft list ruleset
  sudo pktlab lab exec crs client -- tcpdump -ni eth0`,
		Args:              cobraArgs(cobra.MinimumNArgs(3)),
		ValidArgsFunction: completeLabNode,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 2 {
				return usageError("lab exec: put -- between the node and the command: pktlab lab exec %s %s -- CMD", args[0], args[1])
			}
			return withNode(args[0], args[1], func(l *testlab.Lab, n *testlab.Node) error {
				c := exec.CommandContext(cmd.Context(), args[2], args[3:]...)
				c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
				if err := n.Start(c); err != nil {
					return fmt.Errorf("lab %s node %s: %w", l.Name(), n.Name(), err)
				}
				if err := c.Wait(); err != nil {
					var ee *exec.ExitError
					if errors.As(err, &ee) && ee.ExitCode() >= 0 {
						return exitWith(ee.ExitCode(), nil)
					}
					return err
				}
				return nil
			})
		},
	}
	return c
}

// labView is the data lab show prints.
type labView struct {
	Name  string     `json:"name"`
	File  string     `json:"file,omitempty"`
	Nodes []nodeView `json:"nodes"`
	Links []string   `json:"links"`
}

type nodeView struct {
	Name       string      `json:"name"`
	Kind       string      `json:"kind"`
	Namespace  string      `json:"namespace"`
	Forward    bool        `json:"forward"`
	Interfaces []ifaceView `json:"interfaces"`
	Routes     []string    `json:"routes"`
}

type ifaceView struct {
	Name  string         `json:"name"`
	State string         `json:"state"`
	MAC   string         `json:"mac"`
	MTU   int            `json:"mtu"`
	Addrs []netip.Prefix `json:"addresses"`
}

func describeLab(l *testlab.Lab) labView {
	t := l.Topology()
	v := labView{Name: l.Name(), File: t.File, Links: []string{}}
	for _, ls := range t.Links {
		v.Links = append(v.Links, ls.A.String()+" <-> "+ls.B.String())
	}
	for _, n := range l.Nodes() {
		nv := nodeView{Name: n.Name(), Kind: n.Spec().Kind.String(), Namespace: n.Namespace(), Forward: n.Spec().Forward, Interfaces: []ifaceView{}, Routes: []string{}}
		states := linkStates(n)
		for _, i := range n.Interfaces() {
			nv.Interfaces = append(nv.Interfaces, ifaceView{Name: i.Name, State: states[i.Name], MAC: i.MAC.String(), MTU: i.MTU, Addrs: i.Addrs})
		}
		nv.Routes = routes(n)
		v.Nodes = append(v.Nodes, nv)
	}
	return v
}

func linkStates(n *testlab.Node) map[string]string {
	out := map[string]string{}
	h, err := n.Handle()
	if err != nil {
		return out
	}
	defer h.Close()
	links, _ := h.LinkList()
	for _, l := range links {
		out[l.Attrs().Name] = strings.ToUpper(l.Attrs().OperState.String())
	}
	return out
}

// routes lists the node's main-table routes in ip route's words.
func routes(n *testlab.Node) []string {
	h, err := n.Handle()
	if err != nil {
		return nil
	}
	defer h.Close()
	names := map[int]string{}
	links, _ := h.LinkList()
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []string
	rs, _ := h.RouteList(nil, netlink.FAMILY_ALL)
	for _, r := range rs {
		if r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast() {
			continue
		}
		dst := "default"
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones > 0 {
				dst = r.Dst.String()
			}
		}
		s := dst
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		if name, ok := names[r.LinkIndex]; ok {
			s += " dev " + name
		}
		out = append(out, s)
	}
	return out
}

func printLab(w io.Writer, v labView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tIFACE\tSTATE\tMAC\tMTU\tADDRESSES")
	for _, n := range v.Nodes {
		name := n.Name
		if n.Kind != "host" {
			name += " (" + n.Kind + ")"
		} else if n.Forward {
			name += " (forwarding)"
		}
		for _, i := range n.Interfaces {
			addrs := make([]string, len(i.Addrs))
			for k, a := range i.Addrs {
				addrs[k] = a.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", name, i.Name, i.State, i.MAC, i.MTU, strings.Join(addrs, " "))
			name = ""
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROUTES")
	for _, n := range v.Nodes {
		if n.Kind != "host" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", n.Name, strings.Join(n.Routes, "; "))
	}
	tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func completeFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

func completeLabs(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	states, _ := testlab.List()
	var names []string
	for _, s := range states {
		names = append(names, s.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeLabNode completes a lab name, then one of its nodes.
func completeLabNode(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return completeLabs(cmd, args, s)
	case 1:
		st, err := testlab.ReadState(args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		t, err := st.Topology()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, n := range t.Nodes {
			names = append(names, n.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveDefault
}
