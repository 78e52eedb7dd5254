package main

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/testlab"
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

--json prints one object per line: "time" (RFC 3339, ns), "node", "netns", "event"
(as above), "sock" (the kernel socket address, hex), "local", "remote", and per
event "old"/"new" (state), "state", "seq", "end_seq", "flags", "ca", "err", "reason",
"sent", "packet" {src, dst, proto, sport, dport, seq, ack, flags, length},
"sock_state", "cwnd" {…}; and at the end {"event":"stats", "lost", "emitted",
"received", "lost_by_node"}. See docs/ktrace.md.`,
		Example: `  sudo pktlab watch crs
  sudo pktlab watch crs client server --port 80
  sudo pktlab watch crs server --cwnd --port 5201
  sudo pktlab watch crs --json | jq 'select(.event == "drop") | .reason'`,
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
	nodes := lab.Nodes()
	if len(nodeNames) > 0 {
		nodes = nil
		for _, name := range nodeNames {
			n, err := lookupNode(lab, name)
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
		}
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
	if p.o.asJSON {
		p.json(w)
		return
	}
	h := ev.EventHeader()
	p.line("%-15s %-8s %-8s %s\n", h.Time.Local().Format("15:04:05.000000"), h.Node, w.Event, w.text)
}

func (p *watchPrinter) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *watchPrinter) json(v any) {
	if p.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		p.err = err
		return
	}
	_, p.err = p.w.Write(append(b, '\n'))
}

func (p *watchPrinter) lost(node string, n uint64) {
	if p.o.asJSON {
		p.json(map[string]any{"event": "lost", "node": node, "count": n})
		return
	}
	p.line("%-15s %-8s %-8s %d events the kernel could not queue (ring buffer full)\n", time.Now().Format("15:04:05.000000"), node, "lost", n)
}

func (p *watchPrinter) stats(st ktrace.Stats, byNode map[string]uint64) {
	if p.o.asJSON {
		p.json(map[string]any{"event": "stats", "lost": st.Lost, "emitted": st.Emitted, "received": st.Received, "lost_by_node": byNode})
		return
	}
	p.line("# %d events, %d lost\n", st.Received, st.Lost)
}

// watchJSON is one event as --json prints it; text is the DETAILS column.
type watchJSON struct {
	Time      time.Time `json:"time"`
	Node      string    `json:"node"`
	NetNS     uint32    `json:"netns"`
	Event     string    `json:"event"`
	Sock      string    `json:"sock,omitempty"`
	Local     string    `json:"local,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	Old       string    `json:"old,omitempty"`
	New       string    `json:"new,omitempty"`
	State     string    `json:"state,omitempty"`
	Seq       *uint32   `json:"seq,omitempty"`
	EndSeq    *uint32   `json:"end_seq,omitempty"`
	Flags     string    `json:"flags,omitempty"`
	CA        string    `json:"ca,omitempty"`
	Err       int32     `json:"err,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Sent      *bool     `json:"sent,omitempty"`
	Packet    *pktJSON  `json:"packet,omitempty"`
	SockState string    `json:"sock_state,omitempty"`
	Cwnd      *cwndJSON `json:"cwnd,omitempty"`
	text      string
	ports     []uint16
}

type pktJSON struct {
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	Proto  uint8  `json:"proto"`
	Sport  uint16 `json:"sport,omitempty"`
	Dport  uint16 `json:"dport,omitempty"`
	Seq    uint32 `json:"seq,omitempty"`
	Ack    uint32 `json:"ack,omitempty"`
	Flags  string `json:"flags,omitempty"`
	Length uint16 `json:"length"`
}

type cwndJSON struct {
	CA         string `json:"ca"`
	SndCwnd    uint32 `json:"snd_cwnd"`
	Ssthresh   uint32 `json:"ssthresh"`
	SRTTus     int64  `json:"srtt_us"`
	SndWnd     uint32 `json:"snd_wnd"`
	RcvWnd     uint32 `json:"rcv_wnd"`
	SndNxt     uint32 `json:"snd_nxt"`
	SndUna     uint32 `json:"snd_una"`
	MSS        uint32 `json:"mss"`
	PacketsOut uint32 `json:"packets_out"`
	RetransOut uint32 `json:"retrans_out"`
}

func addrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func stateName(s ktrace.State) string {
	if s == 0 {
		return ""
	}
	return s.String()
}

// watchEvent turns an event into what watch prints of it.
func watchEvent(ev ktrace.Event) watchJSON {
	h := ev.EventHeader()
	w := watchJSON{Time: h.Time, Node: h.Node, NetNS: uint32(h.NetNS)}
	if h.Sock != 0 {
		w.Sock = fmt.Sprintf("%x", h.Sock)
	}
	tuple := func(t ktrace.Tuple) {
		w.Local, w.Remote, w.ports = addrPort(t.Local), addrPort(t.Remote), tuplePorts(t)
	}
	switch e := ev.(type) {
	case *ktrace.StateChange:
		if e.Protocol != 6 {
			return watchJSON{} // MPTCP's own sockets: their TCP subflows are shown
		}
		w.Event, w.Old, w.New = "state", e.Old.String(), e.New.String()
		tuple(e.Tuple)
		w.text = fmt.Sprintf("%v %v → %v", e.Tuple, e.Old, e.New)
	case *ktrace.Retransmit:
		w.Event, w.State, w.Seq, w.EndSeq = "retrans", e.State.String(), &e.Seq, &e.EndSeq
		w.Flags, w.CA, w.Err = e.Flags.String(), e.CA.String(), e.Err
		tuple(e.Tuple)
		w.text = fmt.Sprintf("%v [%v] seq %d:%d %v (%v)", e.Tuple, e.Flags, e.Seq, e.EndSeq, e.State, e.CA)
	case *ktrace.SynAckRetransmit:
		w.Event, w.State = "synack", e.State.String()
		tuple(e.Tuple)
		w.text = fmt.Sprintf("%v %v", e.Tuple, e.State)
	case *ktrace.Reset:
		w.Event, w.Sent, w.State, w.Reason = "rst-recv", &e.Sent, stateName(e.State), e.Reason
		if e.Sent {
			w.Event = "rst-sent"
		}
		tuple(e.Tuple)
		w.Packet = packetJSON(e.Packet)
		w.ports = append(w.ports, packetPorts(e.Packet)...)
		w.text = strings.TrimSpace(fmt.Sprintf("%v %s", e.Tuple, stateName(e.State)))
		if e.Reason != "" {
			w.text += " reason " + e.Reason
		}
	case *ktrace.Drop:
		w.Event, w.Reason, w.SockState = "drop", e.Reason, stateName(e.SockState)
		w.Packet = packetJSON(e.Packet)
		w.ports = packetPorts(e.Packet)
		w.text = e.Reason
		if e.Packet != nil {
			w.text += " " + e.Packet.String()
		}
		if e.SockState != 0 {
			w.text += fmt.Sprintf(" (socket %v in %v)", e.SockTuple, e.SockState)
		}
	case *ktrace.CongState:
		w.Event, w.CA = "cong", e.New.String()
		tuple(e.Tuple)
		w.Cwnd = cwnd(e.Cong)
		w.text = fmt.Sprintf("%v %v → %v cwnd %d ssthresh %d", e.Tuple, e.Cong.CA, e.New, e.SndCwnd, e.Ssthresh)
	case *ktrace.CongSample:
		w.Event = "cwnd"
		tuple(e.Tuple)
		w.Cwnd = cwnd(e.Cong)
		w.text = fmt.Sprintf("%v cwnd %d ssthresh %d srtt %v snd_wnd %d rcv_wnd %d snd_nxt %d snd_una %d %v",
			e.Tuple, e.SndCwnd, e.Ssthresh, e.SRTT, e.SndWnd, e.RcvWnd, e.SndNxt, e.SndUna, e.CA)
	case *ktrace.Destroy:
		w.Event, w.State = "destroy", stateName(e.State)
		tuple(e.Tuple)
		w.text = fmt.Sprintf("%v", e.Tuple)
	}
	return w
}

func packetJSON(p *ktrace.Packet) *pktJSON {
	if p == nil {
		return nil
	}
	j := &pktJSON{Src: p.Src.String(), Dst: p.Dst.String(), Proto: p.Proto, Sport: p.SrcPort, Dport: p.DstPort, Length: p.Length}
	if p.Proto == 6 {
		j.Seq, j.Ack, j.Flags = p.Seq, p.Ack, p.Flags.String()
	}
	return j
}

func cwnd(c ktrace.Cong) *cwndJSON {
	return &cwndJSON{CA: c.CA.String(), SndCwnd: c.SndCwnd, Ssthresh: c.Ssthresh, SRTTus: c.SRTT.Microseconds(),
		SndWnd: c.SndWnd, RcvWnd: c.RcvWnd, SndNxt: c.SndNxt, SndUna: c.SndUna, MSS: c.MSS,
		PacketsOut: c.PacketsOut, RetransOut: c.RetransOut}
}
