package experiment

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// Craft is an IPv4 packet a step builds field by field and sends from a node through a
// raw IP socket (rawsock), bypassing the node's TCP/UDP stack: a segment no socket would
// send (a stray ACK) or a header no socket can ask for (IP options).
type Craft struct {
	Src, Dst netip.Addr
	TTL      int
	OptWords int // IPv4 option words of NOPs: IHL = 5 + OptWords
	Proto    string
	SPort    int
	DPort    int
	Flags    string // TCP flags in tcpdump letters
	Seq, Ack uint32
	Window   int
	ICMPType int
	ICMPCode int
	ICMPID   int
	ICMPSeq  int
	Payload  []byte
	DontFrag bool
}

var craftKeys = []string{"src", "dst", "ttl", "ip_options", "df", "tcp", "udp", "icmp"}

func (p *parser) craft(n *yaml.Node) *Craft {
	c := &Craft{TTL: 64, Window: 64240}
	p.mapping(n, "craft", craftKeys, func(k, v *yaml.Node) {
		switch k.Value {
		case "src":
			c.Src = p.addr(v, "src")
		case "dst":
			c.Dst = p.addr(v, "dst")
		case "ttl":
			c.TTL = p.integer(v, "ttl", 0, 255)
		case "ip_options":
			c.OptWords = p.integer(v, "ip_options (4-byte words)", 0, 10)
		case "df":
			c.DontFrag = p.boolean(v, "df")
		case "tcp", "udp", "icmp":
			if c.Proto != "" {
				p.errorf(k, "craft one transport: it has both %s and %s", c.Proto, k.Value)
				return
			}
			c.Proto = k.Value
			p.craftTransport(c, v)
		}
	})
	if !c.Src.Is4() || !c.Dst.Is4() {
		p.errorf(n, "craft needs IPv4 src and dst (crafting IPv6 is not supported here yet)")
	}
	if c.Proto == "" {
		p.errorf(n, "craft needs one of tcp, udp or icmp")
	}
	return c
}

func (p *parser) craftTransport(c *Craft, v *yaml.Node) {
	p.mapping(v, c.Proto, []string{"sport", "dport", "flags", "seq", "ack", "window", "type", "code", "id", "data"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "sport":
			c.SPort = p.integer(v, "sport", 0, 65535)
		case "dport":
			c.DPort = p.integer(v, "dport", 0, 65535)
		case "flags":
			c.Flags, _ = p.scalar(v, "flags")
			if bad := strings.Trim(c.Flags, "SFRPUEW."); bad != "" {
				p.errorf(v, "flags %q: TCP flags are written as tcpdump does: S F R P U E W and . for ACK", c.Flags)
			}
		case "seq":
			if c.Proto == "icmp" {
				c.ICMPSeq = p.integer(v, "seq", 0, 65535)
			} else {
				c.Seq = uint32(p.integer(v, "seq", 0, 1<<32-1))
			}
		case "ack":
			c.Ack = uint32(p.integer(v, "ack", 0, 1<<32-1))
		case "window":
			c.Window = p.integer(v, "window", 0, 65535)
		case "type":
			c.ICMPType = p.integer(v, "type", 0, 255)
		case "code":
			c.ICMPCode = p.integer(v, "code", 0, 255)
		case "id":
			c.ICMPID = p.integer(v, "id", 0, 65535)
		case "data":
			d, _ := p.scalar(v, "data")
			c.Payload = []byte(d)
		}
	})
}

// build lays the packet out, from the IP header on.
func (c *Craft) build() ([]byte, error) {
	ip := &layers.IPv4{Version: 4, TTL: uint8(c.TTL), SrcIP: net.IP(c.Src.AsSlice()), DstIP: net.IP(c.Dst.AsSlice())}
	if c.DontFrag {
		ip.Flags = layers.IPv4DontFragment
	}
	for i := 0; i < c.OptWords; i++ {
		for j := 0; j < 4; j++ {
			ip.Options = append(ip.Options, rawsock.IPOptNOP())
		}
	}
	ls := []gopacket.SerializableLayer{ip}
	switch c.Proto {
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		t := &layers.TCP{SrcPort: layers.TCPPort(c.SPort), DstPort: layers.TCPPort(c.DPort), Seq: c.Seq, Ack: c.Ack, Window: uint16(c.Window)}
		t.SYN, t.FIN, t.RST = strings.Contains(c.Flags, "S"), strings.Contains(c.Flags, "F"), strings.Contains(c.Flags, "R")
		t.PSH, t.URG, t.ACK = strings.Contains(c.Flags, "P"), strings.Contains(c.Flags, "U"), strings.Contains(c.Flags, ".")
		t.ECE, t.CWR = strings.Contains(c.Flags, "E"), strings.Contains(c.Flags, "W")
		ls = append(ls, t)
	case "udp":
		ip.Protocol = layers.IPProtocolUDP
		ls = append(ls, &layers.UDP{SrcPort: layers.UDPPort(c.SPort), DstPort: layers.UDPPort(c.DPort)})
	case "icmp":
		ip.Protocol = layers.IPProtocolICMPv4
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8(c.ICMPType), uint8(c.ICMPCode)), Id: uint16(c.ICMPID), Seq: uint16(c.ICMPSeq)})
	}
	ls = append(ls, gopacket.Payload(c.Payload))
	return rawsock.Serialize(nil, ls...)
}

func (c *Craft) String() string {
	s := fmt.Sprintf("%s %s > %s ttl %d", c.Proto, c.Src, c.Dst, c.TTL)
	if c.OptWords > 0 {
		s += fmt.Sprintf(" with %d IP option word(s) (IHL %d)", c.OptWords, 5+c.OptWords)
	}
	switch c.Proto {
	case "tcp":
		s += fmt.Sprintf(" %d > %d [%s] seq %d ack %d", c.SPort, c.DPort, c.Flags, c.Seq, c.Ack)
	case "udp":
		s += fmt.Sprintf(" %d > %d", c.SPort, c.DPort)
	case "icmp":
		s += fmt.Sprintf(" type %d code %d id %d seq %d", c.ICMPType, c.ICMPCode, c.ICMPID, c.ICMPSeq)
	}
	return s
}

// sendCraft builds the packet and sends it from node n.
func sendCraft(ctx context.Context, n *testlab.Node, c *Craft) error {
	pkt, err := c.build()
	if err != nil {
		return err
	}
	conn, err := rawsock.OpenIP(n, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.WritePacket(ctx, pkt, c.Dst)
}
