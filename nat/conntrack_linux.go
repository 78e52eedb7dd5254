//go:build linux

package nat

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	mdnl "github.com/mdlayher/netlink"
	"github.com/pktlab/pktlab/testlab"
	"github.com/pktlab/pktlab/timeline"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNoNamespace is returned when conntrack is asked for without a lab namespace.
var ErrNoNamespace = errors.New("nat: refusing to open conntrack without a lab namespace fd (would touch the host's table)")

// Tuple is one direction of a connection (conntrack's CTA_TUPLE_ORIG /
// CTA_TUPLE_REPLY), the timeline's type.
type Tuple = timeline.Tuple

// Entry is one conntrack entry. For a NATed connection the reply tuple is not the
// original one reversed: that difference is the translation.
type Entry struct {
	Proto   uint8         `json:"proto"`
	Orig    Tuple         `json:"orig"`
	Reply   Tuple         `json:"reply"`
	State   string        `json:"state,omitempty"` // TCP state (nf_conntrack_tcp.h)
	Timeout time.Duration `json:"timeout"`
	Mark    uint32        `json:"mark"`
	Zone    uint16        `json:"zone,omitempty"`
}

// ProtoName is the entry's protocol as conntrack(8) prints it.
func (e Entry) ProtoName() string { return e.record("").ProtoName() }

func (e Entry) String() string { return e.record("").Entry() }

// record is the entry as the timeline records it, for an event of type typ.
func (e Entry) record(typ string) *timeline.Conntrack {
	return &timeline.Conntrack{Type: typ, Proto: e.Proto, Orig: e.Orig, Reply: e.Reply, State: e.State,
		Timeout: e.Timeout, Mark: e.Mark, Zone: e.Zone}
}

// TCP conntrack states (enum tcp_conntrack, include/uapi/linux/netfilter/nf_conntrack_tcp.h).
var tcpStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}

func tcpState(s uint8) string {
	if int(s) < len(tcpStates) {
		return tcpStates[s]
	}
	return fmt.Sprintf("STATE(%d)", s)
}

// Conntrack reads and changes one lab node's connection tracking table.
type Conntrack struct {
	fd   int
	name string
}

// Open returns a Conntrack for the namespace fd of a lab node; fd <= 0 is refused.
func Open(fd int, name string) (*Conntrack, error) {
	if fd <= 0 {
		return nil, ErrNoNamespace
	}
	return &Conntrack{fd: fd, name: name}, nil
}

// ForNode returns a Conntrack for a lab node.
func ForNode(n *testlab.Node) (*Conntrack, error) {
	if n == nil {
		return nil, ErrNoNamespace
	}
	return Open(n.NetNSFd(), n.Lab().Name()+":"+n.Name())
}

func (c *Conntrack) handle() (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(c.fd))
	if err != nil {
		return nil, fmt.Errorf("nat: netlink handle in %s: %w", c.name, err)
	}
	return h, nil
}

// List returns the node's IPv4 and IPv6 conntrack entries.
func (c *Conntrack) List(ctx context.Context) ([]Entry, error) {
	h, err := c.handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var out []Entry
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		flows, err := h.ConntrackTableList(netlink.ConntrackTable, fam)
		if err != nil {
			return nil, fmt.Errorf("nat: list conntrack in %s: %w", c.name, err)
		}
		for _, f := range flows {
			out = append(out, fromFlow(f))
		}
	}
	return out, nil
}

func ipTuple(t netlink.IPTuple) Tuple {
	src, _ := netip.AddrFromSlice(t.SrcIP)
	dst, _ := netip.AddrFromSlice(t.DstIP)
	return Tuple{Src: src.Unmap(), Dst: dst.Unmap(), SrcPort: t.SrcPort, DstPort: t.DstPort}
}

func fromFlow(f *netlink.ConntrackFlow) Entry {
	e := Entry{Proto: f.Forward.Protocol, Orig: ipTuple(f.Forward), Reply: ipTuple(f.Reverse),
		Timeout: time.Duration(f.TimeOut) * time.Second, Mark: f.Mark, Zone: f.Zone}
	if p, ok := f.ProtoInfo.(*netlink.ProtoInfoTCP); ok {
		e.State = tcpState(p.State)
	}
	return e
}

// Flush removes every conntrack entry of the node.
func (c *Conntrack) Flush(ctx context.Context) error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("nat: flush conntrack in %s: %w", c.name, err)
	}
	return nil
}

// EventType is what happened to an entry.
type EventType uint8

// Conntrack event types (the ctnetlink multicast groups NFNLGRP_CONNTRACK_*).
const (
	EventNew EventType = iota + 1
	EventUpdate
	EventDestroy
)

func (t EventType) String() string {
	if int(t) > 3 {
		return fmt.Sprintf("event(%d)", uint8(t))
	}
	return [...]string{"", "new", "update", "destroy"}[t]
}

// MarshalText makes an EventType print as its name in JSON.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Event is a conntrack change seen by Watch.
type Event struct {
	Time  time.Time `json:"time"`
	Type  EventType `json:"type"`
	Entry Entry     `json:"entry"`
}

// Record is the event as the timeline records it.
func (ev Event) Record() *timeline.Conntrack { return ev.Entry.record(ev.Type.String()) }

// Watch delivers conntrack events of the node until ctx ends; the channel is closed
// then. Errors end the watch and are returned by the returned function.
func (c *Conntrack) Watch(ctx context.Context) (<-chan Event, func() error, error) {
	conn, err := mdnl.Dial(unix.NETLINK_NETFILTER, &mdnl.Config{NetNS: c.fd})
	if err != nil {
		return nil, nil, fmt.Errorf("nat: watch conntrack in %s: %w", c.name, err)
	}
	for _, g := range []uint32{unix.NFNLGRP_CONNTRACK_NEW, unix.NFNLGRP_CONNTRACK_UPDATE, unix.NFNLGRP_CONNTRACK_DESTROY} {
		if err := conn.JoinGroup(g); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("nat: watch conntrack in %s: join group %d: %w", c.name, g, err)
		}
	}
	ch := make(chan Event, 256)
	var werr error
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		conn.SetReadDeadline(time.Now())
	}()
	go func() {
		defer close(done)
		defer close(ch)
		defer conn.Close()
		for {
			msgs, err := conn.Receive()
			if err != nil {
				if ctx.Err() == nil {
					werr = fmt.Errorf("nat: receive conntrack events in %s: %w", c.name, err)
				}
				return
			}
			for _, m := range msgs {
				ev, ok := decodeEvent(m)
				if !ok {
					continue
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, func() error { <-done; return werr }, nil
}

func decodeEvent(m mdnl.Message) (Event, bool) {
	if len(m.Data) < 4 || uint16(m.Header.Type)>>8 != unix.NFNL_SUBSYS_CTNETLINK {
		return Event{}, false
	}
	ev := Event{Time: time.Now()}
	switch uint16(m.Header.Type) & 0xff {
	case ctMsgNew:
		ev.Type = EventUpdate
		if m.Header.Flags&mdnl.HeaderFlags(unix.NLM_F_CREATE) != 0 {
			ev.Type = EventNew
		}
	case ctMsgDelete:
		ev.Type = EventDestroy
	default:
		return Event{}, false
	}
	e, err := DecodeEntry(m.Data[4:])
	if err != nil {
		return Event{}, false
	}
	ev.Entry = e
	return ev, true
}
