package experiment

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/capfilter"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/timeline"
)

// PacketConfig is a packet socket a step opens (packet_open): rawsock's Config as an
// experiment file gives it. These sockets are the file's own, besides the captures
// pktlab run always has (raw, ETH_P_ALL, every link end), so that a file can show how
// the socket's type, protocol and membership change what it receives (EXPERIMENTS
// A1–A4).
type PacketConfig struct {
	Cooked   bool              // SOCK_DGRAM: frames without the link-layer header
	Protocol rawsock.Protocol  // EtherType selected; ProtoAll by default
	Promisc  bool              // PACKET_ADD_MEMBERSHIP with PACKET_MR_PROMISC
	Filter   *capfilter.Filter // classic BPF attached before bind
}

func (c *PacketConfig) String() string {
	typ := "SOCK_RAW"
	if c.Cooked {
		typ = "SOCK_DGRAM"
	}
	s := fmt.Sprintf("socket(AF_PACKET, %s, htons(%s)=%d)", typ, protoName(c.Protocol), c.Protocol.Network())
	if c.Promisc {
		s += ", PACKET_MR_PROMISC"
	}
	if c.Filter != nil {
		s += fmt.Sprintf(", filter %q", c.Filter.String())
	}
	return s
}

// protoName spells a protocol as linux/if_ether.h does.
func protoName(p rawsock.Protocol) string {
	switch p {
	case rawsock.ProtoAll:
		return "ETH_P_ALL"
	case rawsock.ProtoIPv4:
		return "ETH_P_IP"
	case rawsock.ProtoARP:
		return "ETH_P_ARP"
	case rawsock.ProtoIPv6:
		return "ETH_P_IPV6"
	}
	return fmt.Sprintf("0x%04x", uint16(p))
}

// PacketMatch counts the frames a packet socket of the file received. Its fields
// (packetFields) are conditions: a field left out matches anything.
type PacketMatch struct {
	Socket string
	conds  conds
	Quantity
	After  string // step id: only frames from that step's start on
	Before string // step id: only frames before that step's start
}

// LinkMatch checks an interface's state as netlink reports it.
type LinkMatch struct {
	Node, Iface string
	Promiscuity int // IFLA_PROMISCUITY: how many reasons the interface is promiscuous
}

// pframe is one frame a file's packet socket received.
type pframe struct {
	at     time.Time
	typ    rawsock.PacketType
	proto  rawsock.Protocol
	length int
	pkt    timeline.Packet
	text   string
}

// psock is an open packet socket of the file, with its reader.
type psock struct {
	name, node, iface string
	cfg               *PacketConfig
	conn              *rawsock.Conn
	cancel            context.CancelFunc
	done              chan struct{}
	read              atomic.Uint64

	mu     sync.Mutex // guards frames
	frames []pframe
}

// packetOpen opens a packet socket and starts reading it onto the timeline.
func (r *run) packetOpen(s *Step) error {
	c := agent.Call{Start: time.Now(), Node: s.Node, Sock: s.Sock, Op: agent.Op(s.Action), Args: s.Iface + ": " + s.Packet.String(), Step: s.ID}
	cfg := &rawsock.Config{Cooked: s.Packet.Cooked, Protocol: s.Packet.Protocol, Promisc: s.Packet.Promisc}
	if s.Packet.Filter != nil {
		cfg.Filter = s.Packet.Filter.Instructions()
	}
	conn, err := rawsock.Open(r.lab.Node(s.Node), s.Iface, cfg)
	if err != nil {
		return err
	}
	// getsockname(2): the protocol the kernel holds, in network byte order read as a
	// host integer (768 for ETH_P_ALL on a little-endian machine; EXPERIMENTS A4).
	if bp, err := conn.BoundProtocol(); err == nil {
		c.Info = fmt.Sprintf("bound sll_protocol %d", bp)
	}
	c.Dur = time.Since(c.Start)
	ctx, cancel := context.WithCancel(context.Background())
	ps := &psock{name: s.Sock, node: s.Node, iface: s.Iface, cfg: s.Packet, conn: conn, cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.psocks[s.Sock] = ps
	r.mu.Unlock()
	go ps.readLoop(ctx, r.tl)
	r.tl.AddCall(c)
	return nil
}

func (ps *psock) readLoop(ctx context.Context, tl *timeline.Timeline) {
	defer close(ps.done)
	buf := make([]byte, 65536)
	sum := rawsock.NewSummarizer()
	for {
		f, err := ps.conn.ReadFrame(ctx, buf)
		if err != nil {
			return
		}
		pf := pframe{at: f.Time, typ: f.Type, proto: f.Protocol, length: len(f.Data)}
		var text []byte
		if ps.cfg.Cooked {
			// A cooked frame starts at the network header, of the EtherType
			// sockaddr_ll gives: summarized behind a Linux cooked header rebuilt
			// from it, as tcpdump does; its length stays its own.
			pf.pkt = received(f.Data, header.EtherType(f.Protocol))
			sll := make([]byte, 16, 16+len(f.Data))
			binary.BigEndian.PutUint16(sll[14:], uint16(f.Protocol))
			text = sum.Append(nil, layers.LinkTypeLinuxSLL, append(sll, f.Data...))
		} else {
			if eth, err := header.ParseEthernet(f.Data); err == nil {
				pf.pkt = received(eth.Payload(), eth.Type())
			}
			text = sum.Append(nil, layers.LinkTypeEthernet, f.Data)
		}
		pf.text = string(text)
		ps.mu.Lock()
		ps.frames = append(ps.frames, pf)
		ps.mu.Unlock()
		ps.read.Add(1)
		tl.Note(f.Time, ps.node, fmt.Sprintf("[packet socket %s on %s] %d bytes, %s: %s", ps.name, ps.iface, pf.length, f.Type, pf.text))
	}
}

// received reads what a packet expectation matches of a frame a packet socket
// received (protocol, addresses, ICMP type) through rawsock/header's views, from the
// network header of EtherType et on. What it cannot read is left as for an
// undecodable frame.
func received(b []byte, et header.EtherType) timeline.Packet {
	p := timeline.Packet{Proto: fmt.Sprintf("0x%04x", uint16(et)), MSS: -1, WScale: -1, ICMPType: -1, ICMPCode: -1}
	var proto header.IPProtocol
	var l4 []byte
	switch et {
	case header.EtherTypeARP:
		if a, err := header.ParseARP(b); err == nil {
			p.Proto, p.Src, p.Dst = "arp", a.SenderIP(), a.TargetIP()
		}
		return p
	case header.EtherTypeIPv4:
		ip, _ := header.ParseIPv4(b) // a view of the bytes there are, if cut short
		if ip == nil {
			return p
		}
		p.Proto, p.Src, p.Dst = "ip", ip.Src(), ip.Dst()
		proto, l4 = ip.Protocol(), ip.Payload()
	case header.EtherTypeIPv6:
		ip, _ := header.ParseIPv6(b)
		if ip == nil {
			return p
		}
		p.Proto, p.Src, p.Dst = "ip6", ip.Src(), ip.Dst()
		it := ip.ExtHeaders()
		for it.Next() {
		}
		proto, l4 = it.Transport()
	default:
		return p
	}
	switch proto {
	case header.IPProtocolTCP:
		p.Proto = "tcp"
	case header.IPProtocolUDP:
		p.Proto = "udp"
	case header.IPProtocolICMPv4:
		if m, err := header.ParseICMPv4(l4); err == nil {
			p.Proto, p.ICMPType, p.ICMPCode = "icmp", int(m.Type()), int(m.Code())
		}
	case header.IPProtocolICMPv6:
		if m, err := header.ParseICMPv6(l4); err == nil {
			p.Proto, p.ICMPType, p.ICMPCode = "icmp6", int(m.Type()), int(m.Code())
		}
	}
	return p
}

// sync waits until the reader has taken every frame the kernel queued so far.
func (ps *psock) sync(timeout time.Duration) {
	st, err := ps.conn.Stats()
	if err != nil {
		return
	}
	want := st.Received - st.Dropped
	for end := time.Now().Add(timeout); ps.read.Load() < want && time.Now().Before(end); {
		time.Sleep(2 * time.Millisecond)
	}
}

// close reads what is queued, then closes the socket (dropping any membership).
func (ps *psock) close() error {
	select {
	case <-ps.done:
		return nil // closed already
	default:
	}
	ps.sync(time.Second)
	ps.cancel()
	<-ps.done
	return ps.conn.Close()
}

func (r *run) packetClose(s *Step) error {
	c := agent.Call{Start: time.Now(), Node: s.Node, Sock: s.Sock, Op: agent.Op(s.Action), Step: s.ID}
	r.mu.Lock()
	ps := r.psocks[s.Sock]
	r.mu.Unlock()
	if ps == nil {
		return fmt.Errorf("no packet socket %q", s.Sock)
	}
	if err := ps.close(); err != nil {
		return err
	}
	c.Dur = time.Since(c.Start)
	r.tl.AddCall(c)
	return nil
}

func (r *run) closePacketSockets() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ps := range r.psocks {
		ps.close()
	}
}

// checkPacket counts a packet socket's frames.
func (r *run) checkPacket(m *PacketMatch) (want string, pass bool, seen string) {
	want = describePacket(m)
	r.mu.Lock()
	ps := r.psocks[m.Socket]
	r.mu.Unlock()
	from, to := r.window(m.After, m.Before)
	if ps == nil {
		return want, false, "packet socket " + m.Socket + " was never opened (did its step run?)"
	}
	ps.sync(2 * time.Second)
	ps.mu.Lock()
	frames := append([]pframe(nil), ps.frames...)
	ps.mu.Unlock()
	var match, other []pframe
	for _, f := range frames {
		if !inWindow(f.at, from, to, 0) {
			continue
		}
		v := view{pkt: &f.pkt, ptype: f.typ, eproto: f.proto, length: f.length}
		if m.conds.holds(&v, true) && m.conds.holds(&v, false) {
			match = append(match, f)
		} else {
			other = append(other, f)
		}
	}
	n := len(match)
	pass = m.holds(n)
	seen = fmt.Sprintf("%d matching of %d frame(s) received", n, len(match)+len(other))
	line := func(fs []pframe) func(int) string {
		return func(i int) string {
			f := fs[i]
			return fmt.Sprintf("%10.6f %d bytes, %s: %s", f.at.Sub(r.tl.Start).Seconds(), f.length, f.typ, f.text)
		}
	}
	seen += listed("matching", len(match), line(match))
	if !pass || n == 0 {
		seen += listed("others", len(other), line(other))
	}
	return want, pass, seen
}

func describePacket(m *PacketMatch) string {
	what := "frame(s)"
	if parts := m.conds.describe(); len(parts) > 0 {
		what += " " + strings.Join(parts, ", ")
	}
	return m.phrase(what, "received by packet socket "+m.Socket+windowPhrase(m.After, m.Before))
}

// checkLink reads the interface's promiscuity count from netlink in its node.
func (r *run) checkLink(m *LinkMatch) (want string, pass bool, seen string) {
	want = fmt.Sprintf("%s:%s with promiscuity %d", m.Node, m.Iface, m.Promiscuity)
	h, err := r.lab.Node(m.Node).Handle()
	if err != nil {
		return want, false, err.Error()
	}
	defer h.Close()
	l, err := h.LinkByName(m.Iface)
	if err != nil {
		return want, false, fmt.Sprintf("netlink: %v", err)
	}
	got := l.Attrs().Promisc
	flag := ""
	if l.Attrs().RawFlags&0x100 != 0 { // IFF_PROMISC
		flag = ", IFF_PROMISC set"
	}
	return want, got == m.Promiscuity, fmt.Sprintf("promiscuity %d%s", got, flag)
}
