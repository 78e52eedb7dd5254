package experiment

import (
	"fmt"
	"strings"

	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// ifaceRef is a node's interface named by a packet_open step, a craft's via or a link
// expectation; the node is the step's, known once the whole step is read.
type ifaceRef struct {
	s     *Step
	iface string
	n     *yaml.Node
}

type sockRef struct {
	node, sock string
	n          *yaml.Node
}

// check resolves names once the whole file is read: nodes and interfaces against the
// lab, step ids against the steps, sockets against the steps that open them.
func (p *parser) check(f *File) {
	t := f.Lab
	var nodes []string
	for _, n := range t.Nodes {
		nodes = append(nodes, n.Name)
	}
	for _, r := range p.nodeRefs {
		if t.Node(r.name) == nil {
			p.Errorf(r.n, "no node %q in the lab (nodes: %s)", r.name, strings.Join(nodes, ", "))
		}
	}
	for _, r := range p.endpoints {
		n := t.Node(r.ep.Node)
		if n == nil {
			p.Errorf(r.n, "no node %q in the lab (nodes: %s)", r.ep.Node, strings.Join(nodes, ", "))
		} else if n.Interface(r.ep.Interface) == nil {
			p.Errorf(r.n, "node %s has no interface %q", r.ep.Node, r.ep.Interface)
		}
	}
	for _, r := range p.stepRefs {
		if _, ok := p.ids[r.name]; !ok {
			p.Errorf(r.n, "no step has id %q (give the step id: %s)", r.name, r.name)
		}
	}
	for _, r := range p.traceRefs {
		traced := false
		for _, tr := range f.Trace {
			traced = traced || tr.Node == r.name
		}
		if !traced {
			p.Errorf(r.n, "node %s is not traced: add it under trace: (e.g. trace: {%s: \"\"})", r.name, r.name)
		}
	}
	for _, r := range p.ifaceRefs {
		n := t.Node(r.s.Node)
		if n == nil || r.iface == "" {
			continue // reported with the node
		}
		if n.Interface(r.iface) == nil && !(n.Kind == testlab.KindBridge && r.iface == testlab.BridgeName) {
			p.Errorf(r.n, "node %s has no interface %q", r.s.Node, r.iface)
		}
	}
	packets := map[string]*Step{}
	p.packetSockets(f.Steps, packets)
	for _, r := range p.packetRefs {
		if packets[r.name] == nil {
			p.Errorf(r.n, "no packet_open step opens a packet socket named %q", r.name)
		}
	}
	open := map[string]bool{}
	p.checkSockets(f.Steps, open)
	if len(f.Capture) == 0 {
		f.Capture = allEndpoints(t)
	}
}

// checkSockets walks the steps in order, so a socket used before any step opens it is
// reported at the step that uses it.
func (p *parser) checkSockets(steps []*Step, open map[string]bool) {
	for _, s := range steps {
		key := s.Node + "/" + s.Sock
		switch s.Action {
		case ActSocket, ActListen, ActUSListen, ActUSDial, ActPktOpen:
			open[key] = true
		case ActConnect:
			open[key] = true
		case ActAccept, ActUSAccept:
			if !open[key] {
				p.Errs = append(p.Errs, &Error{Pos: s.Pos, Msg: "accept on " + s.Sock + ": no earlier step on node " + s.Node + " opens it (listen first)"})
			}
			open[s.Node+"/"+s.conn().As] = true
		case ActSend, ActRecv, ActShutdown, ActClose, ActSetsockopt, ActSockError, ActEpoll,
			ActUSSend, ActUSRecv, ActUSShutdown, ActUSClose, ActUSAbort, ActUSForget, ActPktClose:
			if !open[key] {
				p.Errs = append(p.Errs, &Error{Pos: s.Pos, Msg: string(s.Action) + " on socket " + s.Sock + ": no earlier step on node " + s.Node + " opens it"})
			}
		case ActParallel:
			for _, b := range s.Branches {
				p.checkSockets(b, open)
			}
		}
	}
}

// packetSockets collects the packet_open steps by name; a name is opened once.
func (p *parser) packetSockets(steps []*Step, seen map[string]*Step) {
	for _, s := range steps {
		if s.Action == ActPktOpen && s.Sock != "" {
			if prev := seen[s.Sock]; prev != nil {
				p.Errs = append(p.Errs, &Error{Pos: s.Pos, Msg: "packet socket " + s.Sock + " is already opened at line " + fmt.Sprint(prev.Pos.Line) + ": give each packet socket its own name"})
			} else {
				seen[s.Sock] = s
			}
		}
		for _, b := range s.Branches {
			p.packetSockets(b, seen)
		}
	}
}

// allEndpoints lists both ends of every link.
func allEndpoints(t *testlab.Topology) []testlab.Endpoint {
	var out []testlab.Endpoint
	for _, l := range t.Links {
		out = append(out, l.A, l.B)
	}
	return out
}
