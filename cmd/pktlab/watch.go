package main

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
)

func init() { rootCmd.AddCommand(newWatchCmd()) }

// watchOpts are the flags of pktlab watch.
type watchOpts struct {
	asJSON bool
	cwnd   bool
	ports  []uint16
}

// watchDelay is how long an event waits before it is printed, so that events of
// several nodes and CPUs come out in time order.
const watchDelay = 50 * time.Millisecond

func newWatchCmd() *cobra.Command {
	var o watchOpts
	c := &cobra.Command{
		Use:   "watch LAB [NODE...]",
		Short: "Show the kernel's TCP live: state changes, retransmissions, resets, drops",
		Long: `Traces the kernel's TCP in the nodes of a lab that is up (all nodes, or the ones
named) from its tracepoints, with eBPF, and prints every event as it happens, merged
across nodes in time order, like bcc's tcpstates, tcpretrans and tcpdrop but per node:

  state     a socket's state change (sock:inet_sock_set_state), with its 4-tuple
  retrans   a retransmitted segment: seq, flags, state, and the congestion state
            (Loss for a timeout, Recovery for fast retransmit)
  synack    a SYN-ACK retransmitted for a request socket (NEW_SYN_RECV)
  rst-sent  a RST sent, with the kernel's reason (NO_SOCKET, TCP_STATE, …)
  rst-recv  a RST received
  drop      a packet the kernel freed without consuming it, with the reason
            (NETFILTER_DROP, NO_SOCKET, TCP_INVALID_SEQUENCE, OTHERHOST, …)
  cong      a congestion state change (Open, Disorder, CWR, Recovery, Loss)
  destroy   a socket's TCP state freed
  cwnd      with --cwnd: one sample per received segment (tcp:tcp_probe): snd_cwnd,
            ssthresh, srtt, snd_wnd, rcv_wnd, snd_nxt, snd_una

Times are the kernel's, on the same clock as pktlab capture's. --port keeps only
events whose socket or packet has that local or remote port. Events the kernel could
not queue are counted and reported ("lost"), never dropped silently. Ctrl-C stops it
and removes every BPF program it attached. Needs root (CAP_BPF and CAP_PERFMON).

--json prints one record per line in pktlab's JSON schema (docs/json.md), the records
pktlab run's timeline has for these events: "kernel_state" (state changes, and a
socket's end as "gone"), "retransmit", "reset", "drop" (with its "reason"),
"congestion" (--cwnd), each with "time", "node", "netns" and "sock" (the kernel socket
address, hex); "lost" when the kernel could not queue events; and at the end "stats"
{lost, emitted, received, lost_by_node}. See docs/ktrace.md.`,
		Example: `  sudo pktlab watch crs
  sudo pktlab watch crs client server --port 80
  sudo pktlab watch crs server --cwnd --port 5201
  sudo pktlab watch crs --json | jq 'select(.type == "drop") | .drop.reason'`,
		Args: cobraArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1:], &o)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object per event")
	f.BoolVar(&o.cwnd, "cwnd", false, "also print congestion samples (tcp:tcp_probe), one per received segment")
	f.Var(portList{&o.ports}, "port", "only events with this local or remote port (repeatable)")
	return c
}

// portList is a repeatable --port flag.
type portList struct{ p *[]uint16 }

func (l portList) String() string { return fmt.Sprint(*l.p) }
func (l portList) Type() string   { return "port" }
func (l portList) Set(s string) error {
	var v uint16
	if _, err := fmt.Sscan(s, &v); err != nil || v == 0 || fmt.Sprint(v) != s {
		return fmt.Errorf("port %q: want a number from 1 to 65535", s)
	}
	*l.p = append(*l.p, v)
	return nil
}

func runWatch(ctx context.Context, stdout, stderr io.Writer, labName string, nodeNames []string, o *watchOpts) error {
	lab, err := openLab(labName)
	if err != nil {
		return err
	}
	defer lab.Release()
	nodes, err := watchNodes(lab, nodeNames)
	if err != nil {
		return err
	}
	tr, err := ktrace.Open(&ktrace.Options{Congestion: o.cwnd})
	if errors.Is(err, ktrace.ErrUnsupported) {
		return fmt.Errorf("watch lab %s: %w", labName, err)
	}
	if err != nil {
		return err
	}
	defer tr.Close()
	merged := make(chan ktrace.Event, 4096)
	var subs []*ktrace.Subscription
	for _, n := range nodes {
		s, err := tr.SubscribeNode(n)
		if err != nil {
			return err
		}
		subs = append(subs, s)
		go func() {
			for ev := range s.Events() {
				merged <- ev
			}
		}()
	}
	fmt.Fprintf(stderr, "watching %s of lab %s (Ctrl-C to stop)\n", nodeList(nodes), labName)
	p := &watchPrinter{w: stdout, o: o}
	if !o.asJSON {
		fmt.Fprintf(stdout, "%-15s %-8s %-8s %s\n", "TIME", "NODE", "EVENT", "DETAILS")
	}
	lost := map[string]uint64{}
	reportLost := func() {
		for i, s := range subs {
			name := nodes[i].Name()
			if n := s.Lost(); n > lost[name] {
				p.lost(name, n-lost[name])
				lost[name] = n
			}
		}
	}
	var q eventHeap
	tick := time.NewTicker(watchDelay)
	defer tick.Stop()
	for {
		select {
		case ev := <-merged:
			heap.Push(&q, ev)
			continue
		case <-tick.C:
			cut := time.Now().Add(-watchDelay)
			for q.Len() > 0 && q[0].EventHeader().Time.Before(cut) {
				p.print(heap.Pop(&q).(ktrace.Event))
			}
			reportLost()
			continue
		case <-ctx.Done():
		}
		break
	}
	// Stop: detach, then print what had arrived, in order, and the counts.
	st := tr.Stats()
	if err := tr.Close(); err != nil {
		fmt.Fprintln(stderr, "pktlab:", err)
	}
	for len(merged) > 0 {
		heap.Push(&q, <-merged)
	}
	for q.Len() > 0 {
		p.print(heap.Pop(&q).(ktrace.Event))
	}
	p.stats(st, lost)
	return p.err
}

// watchNodes are the nodes named, or all the lab's.
func watchNodes(lab *testlab.Lab, names []string) ([]*testlab.Node, error) {
	if len(names) == 0 {
		return lab.Nodes(), nil
	}
	var nodes []*testlab.Node
	for _, name := range names {
		n, err := lookupNode(lab, name)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func nodeList(nodes []*testlab.Node) string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name())
	}
	return "node " + strings.Join(names, ", ")
}

// eventHeap orders events by time.
type eventHeap []ktrace.Event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	return h[i].EventHeader().Time.Before(h[j].EventHeader().Time)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(ktrace.Event)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// watchPrinter renders events as text lines or JSON objects.
type watchPrinter struct {
	w   io.Writer
	o   *watchOpts
	err error
}

func (p *watchPrinter) keep(ports ...uint16) bool {
	if len(p.o.ports) == 0 {
		return true
	}
	for _, want := range p.o.ports {
		for _, got := range ports {
			if got == want {
				return true
			}
		}
	}
	return false
}

func tuplePorts(t ktrace.Tuple) []uint16 { return []uint16{t.Local.Port(), t.Remote.Port()} }

func packetPorts(p *ktrace.Packet) []uint16 {
	if p == nil {
		return nil
	}
	return []uint16{p.SrcPort, p.DstPort}
}

func (p *watchPrinter) print(ev ktrace.Event) {
	w := watchEvent(ev)
	if w.Event == "" || !p.keep(w.ports...) {
		return
	}
	h := ev.EventHeader()
	if p.o.asJSON {
		if d := ktrace.Record(ev); d != nil {
			p.record(timeline.Record{Type: d.Kind().String(), Time: h.Time, Node: h.Node, NetNS: uint32(h.NetNS), Sock: h.Sock, Body: d})
		}
		return
	}
	p.line("%-15s %-8s %-8s %s\n", h.Time.Local().Format("15:04:05.000000"), h.Node, w.Event, w.text)
}

func (p *watchPrinter) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *watchPrinter) record(r timeline.Record) {
	if p.err == nil {
		p.err = timeline.WriteRecord(p.w, r)
	}
}

// lostJSON is the body of a "lost" record: events of a node the kernel could not
// queue.
type lostJSON struct {
	Count uint64 `json:"count"`
}

// statsJSON is the body of the "stats" record that ends a watch.
type statsJSON struct {
	Lost       uint64            `json:"lost"`
	Emitted    uint64            `json:"emitted"`
	Received   uint64            `json:"received"`
	LostByNode map[string]uint64 `json:"lost_by_node"`
	Rescued    uint64            `json:"rescued"`
	Missed     uint64            `json:"missed"`
}

func (p *watchPrinter) lost(node string, n uint64) {
	if p.o.asJSON {
		p.record(timeline.Record{Type: "lost", Time: time.Now(), Node: node, Body: lostJSON{n}})
		return
	}
	p.line("%-15s %-8s %-8s %d events the kernel could not queue (ring buffer full)\n", time.Now().Format("15:04:05.000000"), node, "lost", n)
}

func (p *watchPrinter) stats(st ktrace.Stats, byNode map[string]uint64) {
	if p.o.asJSON {
		if byNode == nil {
			byNode = map[string]uint64{}
		}
		p.record(timeline.Record{Type: "stats", Time: time.Now(), Body: statsJSON{st.Lost, st.Emitted, st.Received, byNode, st.Rescued, st.Missed}})
		return
	}
	p.line("# %d events, %d lost\n", st.Received, st.Lost)
	if st.Missed > 0 {
		p.line("# %d events missed machine-wide, of any namespace: a tracepoint's two programs were both busy on that CPU\n", st.Missed)
	}
}

// watchLine is one event as the text output prints it: its EVENT column, the DETAILS
// column, and the ports --port selects on.
type watchLine struct {
	Event string
	text  string
	ports []uint16
}

func stateName(s ktrace.State) string {
	if s == 0 {
		return ""
	}
	return s.String()
}

// watchEvent turns an event into what watch prints of it.
func watchEvent(ev ktrace.Event) watchLine {
	var w watchLine
	switch e := ev.(type) {
	case *ktrace.StateChange:
		if e.Protocol != 6 {
			return watchLine{} // MPTCP's own sockets: their TCP subflows are shown
		}
		w = watchLine{"state", fmt.Sprintf("%v %v → %v", e.Tuple, e.Old, e.New), tuplePorts(e.Tuple)}
	case *ktrace.Retransmit:
		w = watchLine{"retrans", fmt.Sprintf("%v [%v] seq %d:%d %v (%v)", e.Tuple, e.Flags, e.Seq, e.EndSeq, e.State, e.CA), tuplePorts(e.Tuple)}
	case *ktrace.SynAckRetransmit:
		w = watchLine{"synack", fmt.Sprintf("%v %v", e.Tuple, e.State), tuplePorts(e.Tuple)}
	case *ktrace.Reset:
		w = watchLine{"rst-recv", strings.TrimSpace(fmt.Sprintf("%v %s", e.Tuple, stateName(e.State))), tuplePorts(e.Tuple)}
		if e.Sent {
			w.Event = "rst-sent"
		}
		w.ports = append(w.ports, packetPorts(e.Packet)...)
		if e.Reason != "" {
			w.text += " reason " + e.Reason
		}
	case *ktrace.Drop:
		w = watchLine{"drop", e.Reason, packetPorts(e.Packet)}
		if e.Packet != nil {
			w.text += " " + e.Packet.String()
		}
		if e.SockState != 0 {
			w.text += fmt.Sprintf(" (socket %v in %v)", e.SockTuple, e.SockState)
		}
	case *ktrace.CongState:
		w = watchLine{"cong", fmt.Sprintf("%v %v → %v cwnd %d ssthresh %d", e.Tuple, e.Cong.CA, e.New, e.SndCwnd, e.Ssthresh), tuplePorts(e.Tuple)}
	case *ktrace.CongSample:
		w = watchLine{"cwnd", fmt.Sprintf("%v cwnd %d ssthresh %d srtt %v snd_wnd %d rcv_wnd %d snd_nxt %d snd_una %d %v",
			e.Tuple, e.SndCwnd, e.Ssthresh, e.SRTT, e.SndWnd, e.RcvWnd, e.SndNxt, e.SndUna, e.CA), tuplePorts(e.Tuple)}
	case *ktrace.Destroy:
		w = watchLine{"destroy", fmt.Sprintf("%v", e.Tuple), tuplePorts(e.Tuple)}
	}
	return w
}
