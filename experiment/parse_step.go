package experiment

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/internal/yamlpos"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/capfilter"
	"github.com/pktlab/pktlab/tcpstate"
	"gopkg.in/yaml.v3"
)

// actionArgs lists, for each action, the keys it accepts besides node, id, timeout and
// expect.
var actionArgs = map[Action][]string{
	ActSocket:     {"udp", "v6", "bind", "opts"},
	ActListen:     {"addr", "backlog", "opts"},
	ActConnect:    {"addr", "nonblock", "bind", "opts", "udp"},
	ActAccept:     {"as"},
	ActSend:       {"data", "size", "to", "nonblock", "flags"},
	ActRecv:       {"size", "nonblock", "flags"},
	ActShutdown:   {"how"},
	ActClose:      {},
	ActSetsockopt: {"opts"},
	ActSockError:  {},
	ActEpoll:      {"mode", "events"},
	ActSysctl:     {},
	ActNFT:        {},
	ActSleep:      {},
	ActExec:       {"ok"},
	ActWait:       {},
	ActParallel:   {"steps"},
	ActCraft:      {},
	ActUSListen:   {"addr", "backlog", "tcp"},
	ActUSDial:     {"addr", "bind", "tcp"},
	ActUSAccept:   {"as"},
	ActUSSend:     {"data", "size"},
	ActUSRecv:     {"size"},
	ActUSShutdown: {},
	ActUSClose:    {},
	ActUSAbort:    {},
	ActUSForget:   {},
	ActUSInput:    {},
	ActPktOpen:    {"iface", "cooked", "protocol", "promisc", "filter"},
	ActPktClose:   {},
}

var commonKeys = []string{"node", "id", "timeout", "expect"}

func actionNames() []string {
	var out []string
	for a := range actionArgs {
		out = append(out, string(a))
	}
	sort.Strings(out)
	return out
}

func (p *parser) steps(n *yaml.Node) []*Step {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "steps must be a list, not %s", yamlpos.KindName(n))
		return nil
	}
	var out []*Step
	for _, c := range n.Content {
		if s := p.step(c); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) step(n *yaml.Node) *Step {
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "a step must be a mapping like {node: client, connect: c, addr: 198.18.1.1:80}, not %s", yamlpos.KindName(n))
		return nil
	}
	s := &Step{Pos: p.At(n), Timeout: DefaultStepTimeout}
	var actKey, actVal *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, ok := actionArgs[Action(n.Content[i].Value)]; ok {
			if actKey != nil {
				p.Errorf(n.Content[i], "a step does one thing: it has both %q and %q (split it into two steps)", actKey.Value, n.Content[i].Value)
				return nil
			}
			actKey, actVal = n.Content[i], n.Content[i+1]
		}
	}
	if actKey == nil {
		p.Errorf(n, "step has no action: give one of %s", strings.Join(actionNames(), ", "))
		return nil
	}
	s.Action = Action(actKey.Value)
	switch {
	case sockActions[s.Action] != nil:
		s.Socket = &Socket{Conn: Conn{Backlog: 16, Size: 65536}, Mode: "level"}
	case s.Action.userspace():
		s.Userspace = &Userspace{Conn: Conn{Backlog: 16, Size: 65536}}
	case s.Action == ActExec:
		s.Exec = &Exec{}
	case s.Action == ActPktOpen:
		s.PacketOpen = &PacketOpen{Packet: &PacketConfig{Protocol: rawsock.ProtoAll}}
	}
	allowed := append(append([]string{actKey.Value}, commonKeys...), actionArgs[s.Action]...)
	p.Mapping(n, string(s.Action)+" step", allowed, func(k, v *yaml.Node) { p.stepKey(s, k, v) })
	p.action(s, actKey, actVal)
	needNode := s.Action != ActSleep && s.Action != ActParallel && s.Action != ActWait
	if needNode && s.Node == "" {
		p.Errorf(n, "%s step needs node: which lab node it runs on", s.Action)
	}
	if (s.Action == ActListen || s.Action == ActConnect || s.Action == ActUSListen || s.Action == ActUSDial) && !yamlpos.HasKey(n, "addr") {
		p.Errorf(actKey, "%s needs addr: the address:port to %s", s.Action, s.Action)
	}
	if (s.Action == ActAccept || s.Action == ActUSAccept) && s.conn().As == "" {
		p.Errorf(actKey, "accept needs as: the name of the accepted socket")
	}
	if (s.Action == ActSend || s.Action == ActUSSend) && s.conn().Data == nil && !s.conn().fill {
		p.Errorf(actKey, "send needs data: (text) or size: (bytes)")
	}
	if s.Action == ActPktOpen {
		p.packetStep(s, actKey)
	}
	if s.Action == ActShutdown && s.How == "" {
		p.Errorf(actKey, "shutdown needs how: rd, wr or rdwr")
	}
	if s.ID != "" {
		if prev, dup := p.ids[s.ID]; dup {
			p.Errorf(n, "step id %q is already used at line %d", s.ID, prev.Pos.Line)
		} else {
			if p.ids == nil {
				p.ids = map[string]*Step{}
			}
			p.ids[s.ID] = s
		}
	}
	return s
}

func (p *parser) stepKey(s *Step, k, v *yaml.Node) {
	if parse := stepKeys[k.Value]; parse != nil {
		parse(p, s, v)
	}
}

// stepKeys parse a step's keys other than its action, one entry a key; actionArgs
// says which actions take which.
var stepKeys map[string]func(p *parser, s *Step, v *yaml.Node)

// Set in init: the parsers of expect and steps lead back to the step parser.
func init() {
	stepKeys = map[string]func(p *parser, s *Step, v *yaml.Node){
		"node": func(p *parser, s *Step, v *yaml.Node) {
			s.Node, _ = p.Scalar(v, "node")
			p.nodeRefs = append(p.nodeRefs, stepRef{s.Node, v})
		},
		"id":      func(p *parser, s *Step, v *yaml.Node) { s.ID, _ = p.Scalar(v, "id") },
		"timeout": func(p *parser, s *Step, v *yaml.Node) { s.Timeout = p.Duration(v, "timeout") },
		"expect":  func(p *parser, s *Step, v *yaml.Node) { s.Expect = p.expects(v) },
		"addr": func(p *parser, s *Step, v *yaml.Node) {
			c := s.conn()
			c.Addr = p.addrPort(v, "addr")
			if s.Socket != nil {
				s.V6 = isV6(c.Addr)
			}
		},
		"bind": func(p *parser, s *Step, v *yaml.Node) {
			c := s.conn()
			c.Bind, c.HasBind = p.addrPort(v, "bind"), true
			if s.Socket != nil {
				s.V6 = s.V6 || isV6(c.Bind)
			}
		},
		"to":       func(p *parser, s *Step, v *yaml.Node) { s.To, s.HasTo = p.addrPort(v, "to"), true },
		"backlog":  func(p *parser, s *Step, v *yaml.Node) { s.conn().Backlog = p.Integer(v, "backlog", 0, 65535) },
		"nonblock": func(p *parser, s *Step, v *yaml.Node) { s.Nonblock = p.Bool(v, "nonblock") },
		"udp":      func(p *parser, s *Step, v *yaml.Node) { s.UDP = p.Bool(v, "udp") },
		"v6":       func(p *parser, s *Step, v *yaml.Node) { s.V6 = p.Bool(v, "v6") },
		"ok":       func(p *parser, s *Step, v *yaml.Node) { s.MustOK = p.Bool(v, "ok") },
		"as":       func(p *parser, s *Step, v *yaml.Node) { s.conn().As, _ = p.Scalar(v, "as") },
		"data": func(p *parser, s *Step, v *yaml.Node) {
			if d, ok := p.Scalar(v, "data"); ok {
				s.conn().Data = []byte(d)
			}
		},
		"size": func(p *parser, s *Step, v *yaml.Node) {
			c := s.conn()
			c.Size = p.Integer(v, "size", 0, MaxStepSize)
			// A send's bytes are made when the step runs (payload): parsing stays
			// linear in the file's length whatever size it asks for.
			c.fill = s.Action == ActSend
		},
		"how":    func(p *parser, s *Step, v *yaml.Node) { s.How = p.word(v, "how", "rd, wr or rdwr", "rd", "wr", "rdwr") },
		"mode":   func(p *parser, s *Step, v *yaml.Node) { s.Mode = p.word(v, "mode", "edge or level", "edge", "level") },
		"events": (*parser).stepEvents,
		"opts":   (*parser).stepOpts,
		"steps":  (*parser).branches,
		"tcp":    func(p *parser, s *Step, v *yaml.Node) { s.TCP = p.tcpConfig(v) },
		"iface": func(p *parser, s *Step, v *yaml.Node) {
			s.Iface, _ = p.Scalar(v, "iface")
			p.ifaceRefs = append(p.ifaceRefs, ifaceRef{s, s.Iface, v})
		},
		"cooked":   func(p *parser, s *Step, v *yaml.Node) { s.Packet.Cooked = p.Bool(v, "cooked") },
		"promisc":  func(p *parser, s *Step, v *yaml.Node) { s.Packet.Promisc = p.Bool(v, "promisc") },
		"protocol": (*parser).stepProtocol,
		"filter": func(p *parser, s *Step, v *yaml.Node) {
			s.filterExpr, _ = p.Scalar(v, "filter")
			s.filterNode = v
		},
		"flags": (*parser).stepFlags,
	}
}

// word reads a scalar that must be one of words, said as they are in the error.
func (p *parser) word(v *yaml.Node, what, said string, words ...string) string {
	w, ok := p.Scalar(v, what)
	if ok && !slices.Contains(words, w) {
		p.Errorf(v, "%s %q must be %s", what, w, said)
	}
	return w
}

func isV6(ap netip.AddrPort) bool { return ap.Addr().Is6() && !ap.Addr().Is4In6() }

func (p *parser) stepEvents(s *Step, v *yaml.Node) {
	for _, e := range p.List(v, "events") {
		if _, ok := agent.ParseEvent(e.Value); !ok {
			p.Errorf(e, "unknown epoll event %q (in, out, rdhup, pri, err, hup)", e.Value)
		}
		s.Events = append(s.Events, e.Value)
	}
}

func (p *parser) stepOpts(s *Step, v *yaml.Node) {
	p.Mapping(v, "opts", nil, func(ok, ov *yaml.Node) {
		if !agent.ValidOpt(agent.Opt(ok.Value)) {
			p.Errorf(ok, "unknown socket option %q (one of %s)", ok.Value, strings.Join(agent.Opts(), ", "))
			return
		}
		if agent.NamedOpt(agent.Opt(ok.Value)) {
			if name, isScalar := p.Scalar(ov, ok.Value); isScalar {
				if !agent.ValidCongestionName(name) {
					p.Errorf(ov, "%s %q is not a congestion control name such as cubic, reno or bbr", ok.Value, name)
				}
				s.Opts = append(s.Opts, SockOpt{Name: ok.Value, Text: name})
			}
			return
		}
		val := 0
		if ov.Value == "true" || ov.Value == "false" {
			val = b2i(p.Bool(ov, ok.Value))
		} else {
			val = p.Integer(ov, ok.Value, -1, 1<<30)
		}
		s.Opts = append(s.Opts, SockOpt{Name: ok.Value, Value: val})
	})
}

func (p *parser) stepProtocol(s *Step, v *yaml.Node) {
	if str, ok := p.Scalar(v, "protocol"); ok {
		pr, err := rawsock.ParseProtocol(str)
		if err != nil {
			p.Errorf(v, "protocol %q: give all, ip, arp, ip6 or an EtherType such as 0x88cc", str)
		}
		s.Packet.Protocol = pr
	}
}

func (p *parser) stepFlags(s *Step, v *yaml.Node) {
	for _, f := range p.List(v, "flags") {
		b, ok := agent.ParseFlag(f.Value)
		if !ok {
			p.Errorf(f, "unknown flag %q (oob, peek, waitall, more)", f.Value)
		}
		s.Flags |= b
	}
}

// action parses the value of the action key.
func (p *parser) action(s *Step, k, v *yaml.Node) {
	switch s.Action {
	case ActSysctl:
		s.Sysctls = p.settings(s.Node, v)
	case ActNFT:
		s.Ruleset, _ = p.Scalar(v, "nft ruleset")
		p.nftSteps = append(p.nftSteps, nftText{node: s.Node, text: s.Ruleset, v: v})
	case ActSleep:
		s.Duration = p.Duration(v, "sleep")
	case ActExec:
		for _, a := range p.List(v, "exec") {
			s.Argv = append(s.Argv, a.Value)
		}
		if len(s.Argv) == 0 {
			p.Errorf(v, "exec needs a program and its arguments")
		}
	case ActWait:
		s.Until = p.expect(v)
	case ActParallel:
		s.ID, _ = p.Scalar(v, "parallel group name")
	case ActCraft:
		s.Craft = p.craft(s, v)
	case ActUSInput:
		if in, ok := p.Scalar(v, "us_input"); ok {
			if in != "hold" && in != "release" {
				p.Errorf(v, "us_input %q must be hold (queue the userspace host's received segments) or release (process them in order)", in)
			}
			s.Input = in
		}
	default:
		if name, ok := p.Scalar(v, string(s.Action)+" socket name"); ok {
			if name == "" {
				p.Errorf(v, "%s needs a socket name", s.Action)
			}
			s.Sock = name
		}
	}
}

// branches parses a parallel group: each entry is a step or a list of steps run in
// order.
func (p *parser) branches(s *Step, v *yaml.Node) {
	if v.Kind != yaml.SequenceNode {
		p.Errorf(v, "parallel steps must be a list, not %s", yamlpos.KindName(v))
		return
	}
	for _, c := range v.Content {
		if c.Kind == yaml.SequenceNode {
			s.Branches = append(s.Branches, p.steps(c))
			continue
		}
		if st := p.step(c); st != nil {
			s.Branches = append(s.Branches, []*Step{st})
		}
	}
	if len(s.Branches) == 0 {
		p.Errorf(v, "parallel group has no steps")
	}
}

// packetStep finishes a packet_open step: its interface, and its filter compiled for
// what the socket receives (from the Ethernet header, or from the network header
// when cooked).
func (p *parser) packetStep(s *Step, actKey *yaml.Node) {
	if s.Iface == "" {
		p.Errorf(actKey, "packet_open needs iface: the node's interface to open the packet socket on")
	}
	if s.filterNode == nil {
		return
	}
	lt := capfilter.LinkTypeEthernet
	if s.Packet.Cooked {
		lt = capfilter.LinkTypeRaw
	}
	f, err := capfilter.New(s.filterExpr, lt)
	if err != nil {
		p.filterError(s.filterNode, s.filterExpr, err)
		return
	}
	s.Packet.Filter = f
}

var tcpConfigKeys = []string{"syn_retries", "retries", "time_wait", "nodelay", "no_timestamps", "no_sack", "no_wscale", "no_delayed_ack", "min_rto", "initial_rto", "mss"}

// tcpConfig parses a userspace connection's options (tcpstate.Config).
func (p *parser) tcpConfig(n *yaml.Node) *tcpstate.Config {
	c := &tcpstate.Config{}
	p.Mapping(n, "tcp", tcpConfigKeys, func(k, v *yaml.Node) {
		switch k.Value {
		case "syn_retries":
			c.SynRetries = p.Integer(v, k.Value, 1, 100)
		case "retries":
			c.Retries = p.Integer(v, k.Value, 1, 100)
		case "time_wait":
			c.TimeWait = p.Duration(v, k.Value)
		case "min_rto":
			c.MinRTO = p.Duration(v, k.Value)
		case "initial_rto":
			c.InitialRTO = p.Duration(v, k.Value)
		case "mss":
			c.MSS = uint16(p.Integer(v, k.Value, 88, 65535))
		case "nodelay":
			c.NoDelay = p.Bool(v, k.Value)
		case "no_timestamps":
			c.NoTimestamps = p.Bool(v, k.Value)
		case "no_sack":
			c.NoSACK = p.Bool(v, k.Value)
		case "no_wscale":
			c.NoWindowScale = p.Bool(v, k.Value)
		case "no_delayed_ack":
			c.NoDelayedAck = p.Bool(v, k.Value)
		}
	})
	return c
}
