package experiment

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// Craft is a packet a step builds field by field, as pktlab send does (both lay it out
// through rawsock.CraftSpec), and sends from a node, bypassing the node's TCP/UDP
// stack: a segment no socket would send (a stray ACK), a header no socket can ask for
// (IP options, TCP options of one's choosing), or one broken on purpose. Without Via
// it goes through the node's routing on a raw IP socket (IPv4 or IPv6, header
// included); with Via it goes out of that interface as an Ethernet frame on a packet
// socket.
type Craft struct {
	rawsock.CraftSpec
	Via      string // interface of the step's node for an Ethernet send ("": raw IP socket)
	Count    int
	Interval time.Duration
	size     int // size: bytes of payload, made when the packet is built (spec)
}

var (
	craftKeys    = []string{"src", "dst", "ttl", "tos", "id", "df", "ip_options", "bad_ip_checksum", "ip_length", "via", "src_mac", "dst_mac", "count", "interval", "tcp", "udp", "icmp"}
	craftTCPKeys = []string{"sport", "dport", "flags", "seq", "ack", "window", "urg_ptr", "mss", "wscale", "sackok", "sack", "ts", "tcp_option",
		"data", "size", "bad_checksum", "data_offset", "truncate_option"}
	craftUDPKeys  = []string{"sport", "dport", "data", "size", "bad_checksum", "udp_length"}
	craftICMPKeys = []string{"type", "code", "id", "seq", "mtu", "data", "size", "bad_checksum"}
)

// craft parses a craft step's value; s is the step, whose node a via: names.
func (p *parser) craft(s *Step, n *yaml.Node) *Craft {
	c := &Craft{CraftSpec: rawsock.CraftSpec{TTL: 64, Window: 64240, ICMPType: -1}, Count: 1, Interval: time.Second}
	var proto string
	var v4only []*yaml.Node  // keys that exist in IPv4 only
	var needVia []*yaml.Node // keys that only a packet socket sends as written
	p.Mapping(n, "craft", craftKeys, func(k, v *yaml.Node) {
		switch k.Value {
		case "src":
			c.Src = p.addr(v, "src")
		case "dst":
			c.Dst = p.addr(v, "dst")
		case "ttl":
			c.TTL = uint8(p.Integer(v, "ttl", 0, 255))
		case "tos":
			c.TOS = uint8(p.Integer(v, "tos", 0, 255))
		case "id":
			c.ID = uint16(p.Integer(v, "id", 0, 65535))
			v4only = append(v4only, k)
		case "ip_options":
			for range p.Integer(v, "ip_options (4-byte words)", 0, 10) * 4 {
				c.IPOptions = append(c.IPOptions, rawsock.IPOptNOP())
			}
			v4only = append(v4only, k)
		case "df":
			c.DF = p.Bool(v, "df")
			v4only = append(v4only, k)
		case "bad_ip_checksum":
			c.Corrupt.BadIPChecksum = p.Bool(v, "bad_ip_checksum")
			v4only, needVia = append(v4only, k), append(needVia, k)
		case "ip_length":
			c.Corrupt.IPLength = p.Integer(v, "ip_length", 1, 65535)
			needVia = append(needVia, k)
		case "via":
			p.craftVia(s, c, v)
		case "src_mac":
			c.SrcMAC = p.mac(v, "src_mac")
			needVia = append(needVia, k)
		case "dst_mac":
			c.DstMAC = p.mac(v, "dst_mac")
			needVia = append(needVia, k)
		case "count":
			c.Count = p.Integer(v, "count", 1, 10000)
		case "interval":
			c.Interval = p.Duration(v, "interval")
		case "tcp", "udp", "icmp":
			if proto != "" {
				p.Errorf(k, "craft one transport: it has both %s and %s", proto, k.Value)
				return
			}
			proto = k.Value
			p.craftTransport(c, proto, v)
		}
	})
	if !c.Src.IsValid() || !c.Dst.IsValid() || c.Src.Is4() != c.Dst.Is4() {
		p.Errorf(n, "craft needs src and dst of one family: both IPv4 or both IPv6")
	} else if c.Dst.Is6() {
		for _, k := range v4only {
			p.Errorf(k, "craft: %s exists in IPv4 only; this craft sends IPv6 (dst %s)", k.Value, c.Dst)
		}
		if c.MTU != 0 {
			p.Errorf(n, "craft: mtu makes an ICMPv4 fragmentation needed (RFC 1191); an IPv6 craft cannot send it, and ICMPv6 packet too big (type 2) has no mtu key here")
		}
	}
	if proto == "" {
		p.Errorf(n, "craft needs one of tcp, udp or icmp")
	}
	if c.Via == "" {
		for _, k := range needVia {
			why := "the interface to send an Ethernet frame from on a packet socket"
			if k.Value == "ip_length" || k.Value == "bad_ip_checksum" {
				why += ", which sends the header as written (for a raw IP socket the kernel fills in the IPv4 total length and checksum, raw(7))"
			}
			p.Errorf(k, "craft: %s needs via: %s", k.Value, why)
		}
	}
	return c
}

// craftVia parses via: IFACE or NODE:IFACE, NODE being the step's node.
func (p *parser) craftVia(s *Step, c *Craft, v *yaml.Node) {
	via, ok := p.Scalar(v, "via")
	if !ok {
		return
	}
	if node, iface, found := strings.Cut(via, ":"); found {
		if node != s.Node {
			p.Errorf(v, "via %q: a craft sends from its step's node %s; write via: %s or via: %s:%s", via, s.Node, iface, s.Node, iface)
			return
		}
		via = iface
	}
	if via == "" {
		p.Errorf(v, "via needs an interface of the node, like eth0")
		return
	}
	c.Via = via
	p.ifaceRefs = append(p.ifaceRefs, ifaceRef{s, via, v})
}

func (p *parser) mac(v *yaml.Node, what string) net.HardwareAddr {
	s, ok := p.Scalar(v, what)
	if !ok {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		p.Errorf(v, "%s %q must be an Ethernet MAC address, like 02:00:00:00:00:01", what, s)
		return nil
	}
	return m
}

func (p *parser) craftTransport(c *Craft, proto string, v *yaml.Node) {
	keys := map[string][]string{"tcp": craftTCPKeys, "udp": craftUDPKeys, "icmp": craftICMPKeys}[proto]
	switch proto {
	case "tcp":
		c.Proto = layers.IPProtocolTCP
	case "udp":
		c.Proto = layers.IPProtocolUDP
	}
	opts := rawsock.TCPOptionSet{WScale: -1}
	var data *yaml.Node
	p.Mapping(v, proto, keys, func(k, v *yaml.Node) {
		switch k.Value {
		case "sport":
			c.SPort = uint16(p.Integer(v, "sport", 0, 65535))
		case "dport":
			c.DPort = uint16(p.Integer(v, "dport", 0, 65535))
		case "flags":
			p.tcpFlags(c, v)
		case "seq":
			if proto == "icmp" {
				c.ICMPSeq = uint16(p.Integer(v, "seq", 0, 65535))
			} else {
				c.Seq = uint32(p.Integer(v, "seq", 0, 1<<32-1))
			}
		case "ack":
			c.Ack = uint32(p.Integer(v, "ack", 0, 1<<32-1))
		case "window":
			c.Window = uint16(p.Integer(v, "window", 0, 65535))
		case "urg_ptr":
			c.Urgent = uint16(p.Integer(v, "urg_ptr", 0, 65535))
		case "mss", "wscale", "sackok", "sack", "ts", "tcp_option":
			p.craftTCPOption(&opts, k, v)
		case "type":
			c.ICMPType = p.Integer(v, "type", 0, 255)
		case "code":
			c.ICMPCode = uint8(p.Integer(v, "code", 0, 255))
		case "id":
			c.ICMPID = uint16(p.Integer(v, "id", 0, 65535))
		case "mtu":
			c.MTU = uint16(p.Integer(v, "mtu", 1, 65535))
		case "data":
			if data != nil {
				p.Errorf(k, "%s: give data (text) or size (bytes), not both", proto)
			}
			data = k
			d, _ := p.Scalar(v, "data")
			c.Payload = []byte(d)
		case "size":
			if data != nil {
				p.Errorf(k, "%s: give data (text) or size (bytes), not both", proto)
			}
			data = k
			// Made when the packet is built: parsing allocates in proportion to the
			// file, not to what it asks for.
			c.Payload, c.size = nil, p.Integer(v, "size", 0, 65000)
		case "bad_checksum":
			c.Corrupt.BadChecksum = p.Bool(v, "bad_checksum")
		case "data_offset":
			c.Corrupt.TCPDataOffset = p.Integer(v, "data_offset (32-bit words)", 1, 15)
		case "truncate_option":
			c.Corrupt.TruncateTCPOption = p.Bool(v, "truncate_option")
		case "udp_length":
			c.Corrupt.UDPLength = p.Integer(v, "udp_length", 1, 65535)
		}
	})
	c.TCPOptions = opts.Options()
	if c.Corrupt.TruncateTCPOption && opts.MSS == 0 && opts.WScale < 0 && len(opts.SACK) == 0 && !opts.HasTS && len(opts.Extra) == 0 {
		p.Errorf(v, "truncate_option needs a TCP option with a length to truncate: give mss, wscale, sack, ts or tcp_option")
	}
}

// craftTCPOption parses one of the TCP options a craft lays out.
func (p *parser) craftTCPOption(opts *rawsock.TCPOptionSet, k, v *yaml.Node) {
	switch k.Value {
	case "mss":
		opts.MSS = uint16(p.Integer(v, "mss", 1, 65535))
	case "wscale":
		opts.WScale = p.Integer(v, "wscale (shift count)", 0, 255)
	case "sackok":
		opts.SACKOK = p.Bool(v, "sackok")
	case "sack":
		opts.SACK = p.uint32Pairs(v, "sack", "a list of [LEFT, RIGHT] blocks, like [[1001, 2001]]", 4)
	case "ts":
		if ts := p.uint32Pairs(&yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{v}, Line: v.Line, Column: v.Column}, "ts", "[VAL, ECR], like [100, 0]", 1); len(ts) == 2 {
			opts.HasTS, opts.TS = true, [2]uint32{ts[0], ts[1]}
		}
	case "tcp_option":
		for _, o := range p.List(v, "tcp_option") {
			opts.Extra = append(opts.Extra, p.tcpOption(o))
		}
	}
}

// tcpFlags parses flags in tcpdump letters: S F R P U E W, and . for ACK.
func (p *parser) tcpFlags(c *Craft, v *yaml.Node) {
	f, ok := p.Scalar(v, "flags")
	if !ok {
		return
	}
	if bad := strings.Trim(f, "SFRPUEW."); bad != "" {
		p.Errorf(v, "flags %q: TCP flags are written as tcpdump does: S F R P U E W and . for ACK", f)
		return
	}
	c.SYN, c.FIN, c.RST = strings.Contains(f, "S"), strings.Contains(f, "F"), strings.Contains(f, "R")
	c.PSH, c.URG, c.ACK = strings.Contains(f, "P"), strings.Contains(f, "U"), strings.Contains(f, ".")
	c.ECE, c.CWR = strings.Contains(f, "E"), strings.Contains(f, "W")
}

// uint32Pairs parses a list of [A, B] pairs of 32-bit numbers, at most max of them,
// flattened.
func (p *parser) uint32Pairs(v *yaml.Node, what, want string, max int) []uint32 {
	bad := func(n *yaml.Node) []uint32 {
		p.Errorf(n, "%s must be %s", what, want)
		return nil
	}
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 || len(v.Content) > max {
		return bad(v)
	}
	var out []uint32
	for _, pair := range v.Content {
		if pair.Kind != yaml.SequenceNode || len(pair.Content) != 2 {
			return bad(pair)
		}
		for _, e := range pair.Content {
			n, err := strconv.ParseUint(e.Value, 0, 32)
			if e.Kind != yaml.ScalarNode || err != nil {
				return bad(e)
			}
			out = append(out, uint32(n))
		}
	}
	return out
}

// tcpOption parses KIND:HEXDATA, as pktlab send --tcp-option does.
func (p *parser) tcpOption(v *yaml.Node) layers.TCPOption {
	k, h, _ := strings.Cut(v.Value, ":")
	kind, err1 := strconv.ParseUint(k, 10, 8)
	data, err2 := hex.DecodeString(h)
	if err1 != nil || err2 != nil || len(data) > 38 {
		p.Errorf(v, "tcp_option %q must be KIND:HEXDATA, like 253:0102 (kind 0-255, at most 38 data bytes)", v.Value)
	}
	return rawsock.OptUnknown(uint8(kind), data)
}

func (c *Craft) proto() string {
	switch c.Transport() {
	case layers.IPProtocolTCP:
		return "tcp"
	case layers.IPProtocolUDP:
		return "udp"
	case layers.IPProtocolICMPv6:
		return "icmp6"
	}
	return "icmp"
}

func (c *Craft) String() string {
	s := fmt.Sprintf("%s %s > %s ttl %d", c.proto(), c.Src, c.Dst, c.TTL)
	if n := len(c.IPOptions) / 4; n > 0 {
		s += fmt.Sprintf(" with %d IP option word(s) (IHL %d)", n, 5+n)
	}
	switch c.Transport() {
	case layers.IPProtocolTCP:
		s += fmt.Sprintf(" %d > %d [%s] seq %d ack %d", c.SPort, c.DPort, c.flagString(), c.Seq, c.Ack)
		if len(c.TCPOptions) > 0 {
			s += fmt.Sprintf(" with %d TCP option(s)", len(c.TCPOptions))
		}
	case layers.IPProtocolUDP:
		s += fmt.Sprintf(" %d > %d", c.SPort, c.DPort)
	default:
		typ := c.ICMPType
		if typ < 0 {
			typ = 8
			if c.Dst.Is6() {
				typ = int(layers.ICMPv6TypeEchoRequest)
			}
		}
		if c.MTU != 0 {
			s += fmt.Sprintf(" fragmentation needed, mtu %d", c.MTU)
		} else {
			s += fmt.Sprintf(" type %d code %d id %d seq %d", typ, c.ICMPCode, c.ICMPID, c.ICMPSeq)
		}
	}
	if c.Corrupt != (rawsock.Corruption{}) {
		s += " (corrupted on purpose)"
	}
	if c.Via != "" {
		s += " via " + c.Via
	}
	return s
}

// flagString writes the flags as tcpdump does, in the craft's own letters.
func (c *Craft) flagString() string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		l  string
	}{{c.SYN, "S"}, {c.FIN, "F"}, {c.RST, "R"}, {c.PSH, "P"}, {c.URG, "U"}, {c.ECE, "E"}, {c.CWR, "W"}, {c.ACK, "."}} {
		if f.on {
			b.WriteString(f.l)
		}
	}
	return b.String()
}

// spec is the packet's layout with its payload: the data given, or size zero bytes.
func (c *Craft) spec() rawsock.CraftSpec {
	spec := c.CraftSpec
	if c.size > 0 {
		spec.Payload = make([]byte, c.size)
	}
	return spec
}

// sendCraft builds the packet and sends it from node n Count times, Interval apart:
// through a raw IP socket, or with Via as an Ethernet frame on a packet socket.
func sendCraft(ctx context.Context, n *testlab.Node, c *Craft) error {
	var send func() error
	if c.Via == "" {
		spec := c.spec()
		pkt, err := spec.Packet()
		if err != nil {
			return err
		}
		conn, err := rawsock.OpenIP(n, c.Dst.Is6())
		if err != nil {
			return err
		}
		defer conn.Close()
		send = func() error { return conn.WritePacket(ctx, pkt, c.Dst) }
	} else {
		spec := c.spec()
		if err := craftMACs(n, c.Via, &spec); err != nil {
			return err
		}
		frame, err := spec.Frame()
		if err != nil {
			return err
		}
		// A protocol no frame carries: the socket only sends.
		conn, err := rawsock.Open(n, c.Via, &rawsock.Config{Protocol: 0x88b5})
		if err != nil {
			return err
		}
		defer conn.Close()
		send = func() error { return conn.WriteFrame(ctx, frame) }
	}
	for i := 0; i < c.Count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.Interval):
			}
		}
		if err := send(); err != nil {
			return err
		}
	}
	return nil
}

// craftMACs fills in what src_mac and dst_mac left out: the interface's own MAC, and
// the MAC the node's neighbour table holds for dst.
func craftMACs(n *testlab.Node, iface string, s *rawsock.CraftSpec) error {
	it, err := n.Interface(iface)
	if err != nil {
		return err
	}
	if s.SrcMAC == nil {
		s.SrcMAC = it.MAC
	}
	if s.DstMAC != nil {
		return nil
	}
	m, err := rawsock.NeighborMAC(n, iface, s.Dst)
	if err != nil {
		return fmt.Errorf("%w: give dst_mac, or craft a packet to %v without via first, so the kernel resolves it", err, s.Dst)
	}
	s.DstMAC = m
	return nil
}
