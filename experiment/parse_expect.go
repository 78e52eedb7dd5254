package experiment

import (
	"errors"
	"slices"
	"strings"

	"github.com/pktlab/pktlab/internal/yamlpos"
	"github.com/pktlab/pktlab/rawsock/capfilter"
	"github.com/pktlab/pktlab/sockdiag"
	"gopkg.in/yaml.v3"
)

func (p *parser) expects(n *yaml.Node) []*Expect {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "expect must be a list, not %s", yamlpos.KindName(n))
		return nil
	}
	var out []*Expect
	for _, c := range n.Content {
		if e := p.expect(c); e != nil {
			out = append(out, e)
		}
	}
	return out
}

// expect parses one expectation: a mapping with one kind key (and an optional desc).
func (p *parser) expect(n *yaml.Node) *Expect {
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "an expectation must be a mapping like {frame: {...}} or {call: {...}}, not %s", yamlpos.KindName(n))
		return nil
	}
	e := &Expect{Pos: p.At(n)}
	p.Mapping(n, "expectation", expectKeys(), func(k, v *yaml.Node) {
		if k.Value == "desc" {
			e.Desc, _ = p.Scalar(v, "desc")
			return
		}
		if e.Check != nil {
			p.Errorf(k, "an expectation checks one thing: it has both %q and %q", e.Kind(), k.Value)
			return
		}
		e.Check = p.expectKind(k.Value, v)
	})
	if e.Check == nil {
		p.Errorf(n, "expectation has no kind: give one of %s", strings.Join(expectKeys()[1:], ", "))
		return nil
	}
	return e
}

// frameKeys are a frame expectation's fields, then where and how many.
var frameKeys = append(frameFields.keys(), "on", "count", "min_count", "none", "after", "before", "within", "gaps", "tolerance", "min_gap")

func (p *parser) frameMatch(n *yaml.Node) *FrameMatch {
	m := &FrameMatch{Tol: 0.3}
	p.Mapping(n, "frame", frameKeys, func(k, v *yaml.Node) {
		if frameFields.parse(p, &m.conds, k, v) {
			return
		}
		switch k.Value {
		case "on":
			if s, ok := p.Scalar(v, "on"); ok {
				ep, ok := parseEndpoint(s)
				if !ok {
					p.Errorf(v, "on %q must be node:interface", s)
				}
				m.On = &ep
				p.endpoints = append(p.endpoints, epRef{ep, v})
			}
		case "within":
			m.Within = p.Duration(v, "within")
		case "gaps":
			if v.Kind != yaml.SequenceNode {
				p.Errorf(v, "gaps must be a list of durations, like [1s, 2s, 4s]")
				return
			}
			for _, g := range v.Content {
				m.Gaps = append(m.Gaps, p.Duration(g, "gap"))
			}
		case "tolerance":
			m.Tol = float64(p.Integer(v, "tolerance (percent)", 0, 100)) / 100
		case "min_gap":
			m.MinGap = p.Duration(v, "min_gap")
		default:
			p.quantity(&m.Quantity, &m.After, &m.Before, k, v)
		}
	})
	p.checkQuantity(n, "frame", m.Quantity)
	if m.needsAcks() && m.On == nil {
		p.Errorf(n, "frame: acked_segments and ack_delay need on: the one interface where both the data and its ACK are seen (the receiver's)")
	}
	return m
}

// ackDelay parses {min: 30ms, max: 200ms}; either bound may be left out.
func (p *parser) ackDelay(n *yaml.Node) *AckDelay {
	d := &AckDelay{}
	p.Mapping(n, "ack_delay", []string{"min", "max"}, func(k, v *yaml.Node) {
		if k.Value == "min" {
			d.Min = p.Duration(v, "ack_delay min")
		} else {
			d.Max = p.Duration(v, "ack_delay max")
		}
	})
	if d.Max > 0 && d.Max < d.Min {
		p.Errorf(n, "ack_delay: max %s is below min %s", d.Max, d.Min)
	}
	return d
}

func (p *parser) callMatch(n *yaml.Node) *CallMatch {
	m := &CallMatch{}
	p.Mapping(n, "call", []string{"step", "errno", "ret", "data", "info", "blocked"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "step":
			if s, ok := p.Scalar(v, "step"); ok {
				m.Step = s
				p.stepRefs = append(p.stepRefs, stepRef{s, v})
			}
		case "errno":
			if s, ok := p.Scalar(v, "errno"); ok {
				if s != "0" && !strings.HasPrefix(s, "E") {
					p.Errorf(v, "errno %q must be 0 or a name such as ECONNREFUSED", s)
				} else if s != "0" && !validErrnoName(s) {
					p.Errorf(v, "errno %q is not an errno name of this system (errno(3): ECONNREFUSED, ETIMEDOUT, ECONNRESET, …)", s)
				}
				m.Errno = s
			}
		case "ret":
			r := p.Integer(v, "ret", -1, 1<<31)
			m.Ret = &r
		case "data":
			d, _ := p.Scalar(v, "data")
			m.Data = &d
		case "info":
			m.Info, _ = p.Scalar(v, "info")
		case "blocked":
			b := p.Bool(v, "blocked")
			m.Blocked = &b
		}
	})
	if m.Step == "" {
		p.Errorf(n, "call needs step: the id of the step whose result it checks")
	}
	return m
}

func (p *parser) socketMatch(n *yaml.Node) *SocketMatch {
	m := &SocketMatch{}
	p.Mapping(n, "socket", []string{"node", "local", "remote", "state", "count", "min_timer"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "node":
			m.Node, _ = p.Scalar(v, "node")
			p.nodeRefs = append(p.nodeRefs, stepRef{m.Node, v})
		case "local":
			m.Local = p.addrPort(v, "local")
		case "remote":
			m.Remote = p.addrPort(v, "remote")
		case "state":
			if s, ok := p.Scalar(v, "state"); ok {
				st, ok := sockdiag.ParseState(s)
				if !ok {
					p.Errorf(v, "TCP state %q is not one of %s", s, strings.Join(sockdiag.StateNames(), ", "))
				}
				m.State = st.String()
			}
		case "count":
			m.Count = p.count(v)
		case "min_timer":
			m.MinTimer = p.Duration(v, "min_timer")
		}
	})
	if m.Node == "" {
		p.Errorf(n, "socket needs node: whose kernel socket table to read")
	}
	return m
}

// filterError reports a tcpdump expression error at the offending token's column.
func (p *parser) filterError(v *yaml.Node, expr string, err error) {
	var se *capfilter.SyntaxError
	if errors.As(err, &se) && se.Line == 1 {
		col := v.Column + se.Col - 1
		if v.Style == yaml.DoubleQuotedStyle || v.Style == yaml.SingleQuotedStyle {
			col++
		}
		p.Errs = append(p.Errs, &Error{Pos: Pos{File: p.File, Line: v.Line, Col: col}, Msg: "filter " + strconvQuote(expr) + ": " + se.Msg})
		return
	}
	p.Errorf(v, "filter %q: %v", expr, strings.TrimPrefix(err.Error(), "capfilter: "))
}

func (p *parser) traceMatch(n *yaml.Node) *TraceMatch {
	m := &TraceMatch{}
	p.Mapping(n, "trace", []string{"node", "hooks", "chains", "verdicts", "final", "count"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "node":
			m.Node, _ = p.Scalar(v, "node")
			p.nodeRefs = append(p.nodeRefs, stepRef{m.Node, v})
			p.traceRefs = append(p.traceRefs, stepRef{m.Node, v})
		case "hooks":
			for _, h := range p.List(v, "hooks") {
				if !slices.Contains([]string{"prerouting", "input", "forward", "output", "postrouting", "ingress", "egress"}, h.Value) {
					p.Errorf(h, "hook %q must be prerouting, input, forward, output, postrouting, ingress or egress", h.Value)
				}
				m.Hooks = append(m.Hooks, h.Value)
			}
		case "chains":
			m.Chains = yamlpos.Values(p.List(v, "chains"))
		case "verdicts":
			m.Verdicts = yamlpos.Values(p.List(v, "verdicts"))
		case "final":
			m.Final, _ = p.Scalar(v, "final")
		case "count":
			m.Count = p.count(v)
		}
	})
	if m.Node == "" {
		p.Errorf(n, "trace needs node: whose trace events to check")
	}
	return m
}

func (p *parser) usStateMatch(n *yaml.Node) *USStateMatch {
	m := &USStateMatch{}
	p.Mapping(n, "us_state", []string{"node", "conn", "path", "state"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "node":
			m.Node, _ = p.Scalar(v, "node")
			p.nodeRefs = append(p.nodeRefs, stepRef{m.Node, v})
		case "conn":
			m.Conn, _ = p.Scalar(v, "conn")
		case "path":
			m.Path = yamlpos.Values(p.List(v, "path"))
		case "state":
			m.State, _ = p.Scalar(v, "state")
		}
	})
	if m.Node == "" || m.Conn == "" {
		p.Errorf(n, "us_state needs node and conn: which userspace connection to check")
	}
	return m
}

func (p *parser) ctMatch(n *yaml.Node) *CTMatch {
	m := &CTMatch{}
	p.Mapping(n, "conntrack", []string{"node", "has", "count"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "node":
			m.Node, _ = p.Scalar(v, "node")
			p.nodeRefs = append(p.nodeRefs, stepRef{m.Node, v})
		case "has":
			m.Has = yamlpos.Values(p.List(v, "has"))
		case "count":
			m.Count = p.count(v)
		}
	})
	if m.Node == "" {
		p.Errorf(n, "conntrack needs node: whose conntrack table to read")
	}
	return m
}

// packetKeys are a packet expectation's socket, fields, then how many.
var packetKeys = append(append([]string{"socket"}, packetFields.keys()...), "count", "min_count", "none", "after", "before")

func (p *parser) packetMatch(n *yaml.Node) *PacketMatch {
	m := &PacketMatch{}
	p.Mapping(n, "packet", packetKeys, func(k, v *yaml.Node) {
		if packetFields.parse(p, &m.conds, k, v) {
			return
		}
		if k.Value != "socket" {
			p.quantity(&m.Quantity, &m.After, &m.Before, k, v)
			return
		}
		if s, ok := p.Scalar(v, "socket"); ok {
			m.Socket = s
			p.packetRefs = append(p.packetRefs, stepRef{s, v})
		}
	})
	if m.Socket == "" {
		p.Errorf(n, "packet needs socket: the name a packet_open step gave it")
	}
	p.checkQuantity(n, "packet", m.Quantity)
	return m
}

func (p *parser) linkMatch(n *yaml.Node) *LinkMatch {
	m := &LinkMatch{}
	p.Mapping(n, "link", []string{"on", "promiscuity"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "on":
			if s, ok := p.Scalar(v, "on"); ok {
				ep, ok := parseEndpoint(s)
				if !ok {
					p.Errorf(v, "on %q must be node:interface", s)
					return
				}
				m.Node, m.Iface = ep.Node, ep.Interface
				p.ifaceRefs = append(p.ifaceRefs, ifaceRef{&Step{Node: ep.Node}, ep.Interface, v})
			}
		case "promiscuity":
			m.Promiscuity = p.Integer(v, "promiscuity", 0, 1<<20)
		}
	})
	if m.Node == "" || !yamlpos.HasKey(n, "promiscuity") {
		p.Errorf(n, "link needs on (node:interface) and promiscuity (the count netlink reports)")
	}
	return m
}

// quantity reads one of count, min_count, none, after and before (step ids, only
// items from that step's start on, or before it) for a frame or packet expectation.
func (p *parser) quantity(q *Quantity, after, before *string, k, v *yaml.Node) {
	switch k.Value {
	case "count":
		q.Count = p.count(v)
	case "min_count":
		q.MinCount = p.Integer(v, "min_count", 1, 1<<20)
	case "none":
		q.None = p.Bool(v, "none")
	case "after", "before":
		if s, ok := p.Scalar(v, k.Value); ok {
			p.stepRefs = append(p.stepRefs, stepRef{s, v})
			if k.Value == "after" {
				*after = s
			} else {
				*before = s
			}
		}
	}
}

// count reads an exact count of matching items.
func (p *parser) count(v *yaml.Node) Exactly {
	n, ok := p.intValue(v, "count", 0, 1<<20)
	if !ok {
		return Exactly{}
	}
	return exactly(n)
}

// checkQuantity refuses none together with a count.
func (p *parser) checkQuantity(n *yaml.Node, kind string, q Quantity) {
	if q.None && (q.Count.set || q.MinCount > 0) {
		p.Errorf(n, "%s: none: true cannot be combined with count or min_count", kind)
	}
}
