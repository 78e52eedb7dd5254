package testlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/internal/yamlpos"
)

// Limits on names. Interface names are bounded by the kernel's IFNAMSIZ (16 with the
// NUL); lab and node names are kept short so namespace names stay readable.
const (
	MaxLabName   = 20
	MaxNodeName  = 20
	MaxIfaceName = 15
)

// Node names have no '-', so that the namespace name pktlab-<lab>-<node> names one
// lab and one node: the node is what follows the last '-'. With '-' allowed in both,
// lab "prbq" node "a-b" and lab "prbq-a" node "b" were the same namespace.
var (
	labNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	nodeNameRE  = regexp.MustCompile(`^[a-z0-9]+$`)
	ifaceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	sysctlKeyRE = regexp.MustCompile(`^net(\.[A-Za-z0-9_-]+)+$`)
)

// Error is one problem in a topology, at a position in its file.
type Error = yamlpos.Error

// ErrorList is every problem found in a topology, in file order. It unwraps to its
// elements, so errors.As(err, new(*Error)) finds the first. Its text lists the first
// MaxShownErrors and counts the rest.
type ErrorList = yamlpos.ErrorList

// MaxShownErrors is how many errors ErrorList's text lists before it only counts the
// rest: a file with 200 000 mistakes is not read by printing them all.
const MaxShownErrors = yamlpos.MaxShown

// IsInvalid reports whether err says the topology itself is bad (as opposed to a
// failure while creating it).
func IsInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Limits bounds the size of a topology, so that a file of 10 000 nodes is refused
// before anything is created rather than after minutes of namespace creation. A zero
// field means its DefaultLimits value.
type Limits struct {
	Nodes      int `json:"nodes"`      // nodes in the lab
	Links      int `json:"links"`      // links in the lab
	Interfaces int `json:"interfaces"` // interfaces of one node
}

// DefaultLimits are the limits Load, Parse and ParseFile apply: well above any lab
// meant for a person to read (examples/ has at most 5 nodes), well below what would
// strain a shared machine (each node is a namespace with its own tables).
var DefaultLimits = Limits{Nodes: 256, Links: 1024, Interfaces: 64}

func (l Limits) withDefaults() Limits {
	if l.Nodes == 0 {
		l.Nodes = DefaultLimits.Nodes
	}
	if l.Links == 0 {
		l.Links = DefaultLimits.Links
	}
	if l.Interfaces == 0 {
		l.Interfaces = DefaultLimits.Interfaces
	}
	return l
}

// Load reads and validates a topology file within lim. The file must be a regular
// file of at most inputfile.Topology's limit; reading stops when ctx is done.
func Load(ctx context.Context, path string, lim Limits) (*Topology, error) {
	b, err := inputfile.Read(ctx, path, inputfile.Topology)
	if err != nil {
		return nil, &Error{Pos: yamlpos.Pos{File: path}, Msg: fmt.Sprintf("cannot read topology: %v", err)}
	}
	return parse(path, b, parseOpts{limits: lim, checkSysctls: true})
}

// Parse validates a topology given as YAML text.
func Parse(src []byte) (*Topology, error) { return ParseFile("", src) }

// ParseFile is Parse with a file name for error positions.
func ParseFile(name string, src []byte) (*Topology, error) {
	return parse(name, src, parseOpts{checkSysctls: true})
}

// ParseLimits is ParseFile within lim instead of DefaultLimits.
func ParseLimits(name string, src []byte, lim Limits) (*Topology, error) {
	return parse(name, src, parseOpts{limits: lim, checkSysctls: true})
}

// parseOpts says how far parse checks.
type parseOpts struct {
	limits Limits
	// checkSysctls checks that each sysctl exists in a lab node (see netSysctls). A
	// stored topology, validated when its lab was created, is not checked again.
	checkSysctls bool
}

// parser walks the YAML node tree, collecting errors with positions.
type parser struct {
	yamlpos.Errors
	opts parseOpts
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) { p.Errorf(n, format, args...) }

func parse(file string, src []byte, opts parseOpts) (*Topology, error) {
	opts.limits = opts.limits.withDefaults()
	p := &parser{Errors: yamlpos.Errors{File: file}, opts: opts}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, ErrorList{yamlpos.SyntaxError(file, err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, ErrorList{{Pos: yamlpos.Pos{File: file, Line: 1, Col: 1}, Msg: "empty topology: want a mapping with name, nodes and links"}}
	}
	t := &Topology{File: file, Source: src, limits: opts.limits}
	pos := p.topology(doc.Content[0], t)
	if len(p.Errs) == 0 {
		p.validate(t, pos)
	}
	if len(p.Errs) > 0 {
		return nil, p.Errs
	}
	return t, nil
}

// positions remembers where each named thing was written, for errors found after the
// tree walk.
type positions struct {
	node   map[string]*yaml.Node // node name -> its key
	iface  map[Endpoint]*yaml.Node
	addr   map[Endpoint][]*yaml.Node
	route  map[string][]*yaml.Node
	sysctl map[string][]*yaml.Node // node name -> the key of each of its sysctls
	link   []*yaml.Node
	ep     [][2]*yaml.Node
	name   *yaml.Node
}

func (p *parser) mapping(n *yaml.Node, what string, allowed []string, fn func(k, v *yaml.Node)) {
	p.Mapping(n, what, allowed, fn)
}

// reservedIfaces are the devices a new network namespace may already hold, so a veth
// of that name cannot be created in it: loopback always, and the fallback tunnel
// devices the kernel adds to every namespace once their module is loaded (unless
// net.core.fb_tunnels_only_for_init_net is set): ipip_init_net, sit_init_net,
// ip6_tnl_init_net, ipgre_init_net, ip6gre_init_net, vti_init_net, vti6_init_net.
var reservedIfaces = map[string]string{
	"lo":       "loopback",
	"tunl0":    "the ipip module's fallback device",
	"sit0":     "the sit module's fallback device",
	"ip6tnl0":  "the ip6_tunnel module's fallback device",
	"gre0":     "the ip_gre module's fallback device",
	"gretap0":  "the ip_gre module's fallback device",
	"erspan0":  "the ip_gre module's fallback device",
	"ip6gre0":  "the ip6_gre module's fallback device",
	"ip_vti0":  "the ip_vti module's fallback device",
	"ip6_vti0": "the ip6_vti module's fallback device",
}

var kindName = yamlpos.KindName

func (p *parser) scalar(n *yaml.Node, what string) (string, bool) { return p.Scalar(n, what) }

func (p *parser) topology(root *yaml.Node, t *Topology) *positions {
	pos := &positions{
		node:   map[string]*yaml.Node{},
		iface:  map[Endpoint]*yaml.Node{},
		addr:   map[Endpoint][]*yaml.Node{},
		route:  map[string][]*yaml.Node{},
		sysctl: map[string][]*yaml.Node{},
	}
	var haveNodes bool
	p.mapping(root, "topology", []string{"name", "nodes", "links"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			pos.name = v
			if s, ok := p.scalar(v, "name"); ok {
				t.Name = s
				if len(s) > MaxLabName || !labNameRE.MatchString(s) {
					p.errorf(v, "lab name %q must be 1 to %d characters of a-z, 0-9 and '-', starting with a letter or digit", s, MaxLabName)
				}
			}
		case "nodes":
			haveNodes = true
			if v.Kind == yaml.MappingNode && len(v.Content) == 0 {
				p.errorf(k, "nodes is empty: a lab needs nodes (see docs/topology.md)")
				return
			}
			if n := len(v.Content) / 2; v.Kind == yaml.MappingNode && n > p.opts.limits.Nodes {
				p.errorf(k, "%d nodes, more than the limit of %d (pktlab lab up --max-nodes N raises it)", n, p.opts.limits.Nodes)
				return
			}
			p.mapping(v, "nodes", nil, func(k, v *yaml.Node) {
				pos.node[k.Value] = k
				t.Nodes = append(t.Nodes, p.node(k, v, pos))
			})
		case "links":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "links must be a list, not %s", kindName(v))
				return
			}
			if n := len(v.Content); n > p.opts.limits.Links {
				p.errorf(k, "%d links, more than the limit of %d (pktlab lab up --max-links N raises it)", n, p.opts.limits.Links)
				return
			}
			for _, l := range v.Content {
				ls, eps := p.link(l)
				if ls != nil {
					t.Links = append(t.Links, ls)
					pos.link = append(pos.link, l)
					pos.ep = append(pos.ep, eps)
				}
			}
		}
	})
	if root.Kind == yaml.MappingNode {
		if pos.name == nil {
			p.errorf(root, "the topology has no name")
		}
		if !haveNodes {
			p.errorf(root, "the topology has no nodes")
		}
	}
	return pos
}

func (p *parser) node(k, v *yaml.Node, pos *positions) *NodeSpec {
	n := &NodeSpec{Name: k.Value}
	if len(n.Name) > MaxNodeName || !nodeNameRE.MatchString(n.Name) {
		p.errorf(k, "node name %q must be 1 to %d characters of a-z and 0-9 (no '-': it separates lab and node in the namespace name pktlab-<lab>-<node>)", n.Name, MaxNodeName)
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		p.errorf(v, "node %s has no interfaces", n.Name)
		return n
	}
	p.mapping(v, "node "+n.Name, []string{"kind", "forward", "interfaces", "routes", "sysctls"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "kind":
			if s, ok := p.scalar(v, "kind"); ok {
				switch s {
				case "host", "":
					n.Kind = KindHost
				case "bridge":
					n.Kind = KindBridge
				default:
					p.errorf(v, "node %s: unknown kind %q (want host or bridge)", n.Name, s)
				}
			}
		case "forward":
			var b bool
			if err := v.Decode(&b); err != nil {
				p.errorf(v, "node %s: forward must be true or false, not %q", n.Name, v.Value)
			}
			n.Forward = b
		case "interfaces":
			if c := len(v.Content) / 2; v.Kind == yaml.MappingNode && c > p.opts.limits.Interfaces {
				p.errorf(k, "node %s: %d interfaces, more than the limit of %d per node (pktlab lab up --max-interfaces N raises it)", n.Name, c, p.opts.limits.Interfaces)
				return
			}
			p.mapping(v, "interfaces of "+n.Name, nil, func(k, v *yaml.Node) {
				ep := Endpoint{n.Name, k.Value}
				pos.iface[ep] = k
				n.Interfaces = append(n.Interfaces, p.iface(ep, k, v, pos))
			})
		case "routes":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "node %s: routes must be a list, not %s", n.Name, kindName(v))
				return
			}
			for _, r := range v.Content {
				if s, ok := p.scalar(r, "a route"); ok {
					rt, err := parseRoute(s)
					if err != nil {
						p.errorf(r, "node %s: %v", n.Name, err)
						continue
					}
					n.Routes = append(n.Routes, rt)
					pos.route[n.Name] = append(pos.route[n.Name], r)
				}
			}
		case "sysctls":
			p.mapping(v, "sysctls of "+n.Name, nil, func(k, v *yaml.Node) {
				if !sysctlKeyRE.MatchString(k.Value) {
					p.errorf(k, "node %s: sysctl %q: only net.* sysctls are per namespace, so only those may be set in a lab", n.Name, k.Value)
					return
				}
				if s, ok := p.scalar(v, "sysctl value"); ok {
					n.Sysctls = append(n.Sysctls, Sysctl{k.Value, s})
					pos.sysctl[n.Name] = append(pos.sysctl[n.Name], k)
				}
			})
		}
	})
	return n
}

func (p *parser) iface(ep Endpoint, k, v *yaml.Node, pos *positions) *InterfaceSpec {
	i := &InterfaceSpec{Name: k.Value}
	if len(i.Name) > MaxIfaceName || !ifaceNameRE.MatchString(i.Name) {
		p.errorf(k, "interface name %q must be 1 to %d characters of letters, digits, '_', '.', '-' (the kernel's IFNAMSIZ)", i.Name, MaxIfaceName)
	} else if why, ok := reservedIfaces[i.Name]; ok {
		p.errorf(k, "%s: the name %s is taken in every lab node (%s); choose another, like eth0", ep, i.Name, why)
	}
	addrs := func(v *yaml.Node) {
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "addresses of %s must be a list, not %s", ep, kindName(v))
			return
		}
		for _, a := range v.Content {
			s, ok := p.scalar(a, "an address")
			if !ok {
				continue
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.errorf(a, "%s: bad address %q: want an address with its prefix length, like 198.18.1.2/24 or 2001:db8:1::2/64", ep, s)
				continue
			}
			i.Addrs = append(i.Addrs, pfx)
			pos.addr[ep] = append(pos.addr[ep], a)
		}
	}
	switch v.Kind {
	case yaml.SequenceNode:
		addrs(v)
	case yaml.ScalarNode:
		if v.Tag != "!!null" {
			p.errorf(v, "interface %s must be a list of addresses or a mapping, not %s", ep, kindName(v))
		}
	default:
		p.mapping(v, "interface "+ep.String(), []string{"addresses", "mtu", "mac"}, func(k, v *yaml.Node) {
			switch k.Value {
			case "addresses":
				addrs(v)
			case "mtu":
				i.MTU = p.mtu(v, ep.String())
			case "mac":
				if s, ok := p.scalar(v, "mac"); ok {
					mac, err := net.ParseMAC(s)
					if err != nil || len(mac) != 6 {
						p.errorf(v, "%s: bad MAC %q: want six hex bytes like 02:00:00:00:02:01", ep, s)
					} else if mac[0]&1 != 0 {
						p.errorf(v, "%s: MAC %s is a multicast address; an interface needs a unicast one", ep, s)
					} else {
						i.MAC = mac
					}
				}
			}
		})
	}
	return i
}

// mtu parses an MTU: 68 (RFC 791's minimum) to 65535. IPv6 needs 1280; that is
// checked in validate, where the addresses are known.
func (p *parser) mtu(v *yaml.Node, what string) int {
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || err != nil || n < 68 || n > 65535 {
		p.errorf(v, "%s: bad mtu %q: want a number from 68 to 65535", what, v.Value)
		return 0
	}
	return n
}

func (p *parser) link(n *yaml.Node) (*LinkSpec, [2]*yaml.Node) {
	l := &LinkSpec{}
	var eps [2]*yaml.Node
	var list *yaml.Node
	switch n.Kind {
	case yaml.SequenceNode:
		list = n
	case yaml.MappingNode:
		p.mapping(n, "link", []string{"endpoints", "mtu"}, func(k, v *yaml.Node) {
			switch k.Value {
			case "endpoints":
				list = v
			case "mtu":
				l.MTU = p.mtu(v, "link")
			}
		})
		if list == nil {
			p.errorf(n, "link has no endpoints")
			return nil, eps
		}
	default:
		p.errorf(n, "a link must be [node:iface, node:iface] or {endpoints: [...], mtu: N}, not %s", kindName(n))
		return nil, eps
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) != 2 {
		p.errorf(list, "a link has exactly two endpoints, node:iface each")
		return nil, eps
	}
	for j, e := range list.Content {
		s, ok := p.scalar(e, "an endpoint")
		if !ok {
			return nil, eps
		}
		node, iface, found := strings.Cut(s, ":")
		if !found || node == "" || iface == "" {
			p.errorf(e, "bad endpoint %q: want node:interface, like router:eth1", s)
			return nil, eps
		}
		eps[j] = e
		if j == 0 {
			l.A = Endpoint{node, iface}
		} else {
			l.B = Endpoint{node, iface}
		}
	}
	return l, eps
}

// parseRoute reads "default via 198.18.1.1", "198.19.0.0/16 via 198.18.1.1",
// "2001:db8:2::/64 dev eth0" and combinations of via and dev.
func parseRoute(s string) (Route, error) {
	f := strings.Fields(s)
	if len(f) < 3 || len(f)%2 == 0 {
		return Route{}, fmt.Errorf("bad route %q: want \"DEST via GATEWAY\" or \"DEST dev IFACE\", DEST being default or a prefix", s)
	}
	var r Route
	for i := 1; i < len(f); i += 2 {
		switch f[i] {
		case "via":
			a, err := netip.ParseAddr(f[i+1])
			if err != nil {
				return Route{}, fmt.Errorf("bad route %q: gateway %q is not an address", s, f[i+1])
			}
			r.Via = a
		case "dev":
			r.Dev = f[i+1]
		default:
			return Route{}, fmt.Errorf("bad route %q: unknown word %q (want via or dev)", s, f[i])
		}
	}
	if f[0] == "default" {
		switch {
		case r.Via.Is6():
			r.Dst = netip.MustParsePrefix("::/0")
		case r.Via.Is4():
			r.Dst = netip.MustParsePrefix("0.0.0.0/0")
		default:
			return Route{}, fmt.Errorf("bad route %q: a default route needs a gateway (via) to know its family", s)
		}
		return r, nil
	}
	d, err := netip.ParsePrefix(f[0])
	if err != nil {
		return Route{}, fmt.Errorf("bad route %q: destination %q is neither default nor a prefix", s, f[0])
	}
	if d != d.Masked() {
		return Route{}, fmt.Errorf("bad route %q: destination %s has host bits set (did you mean %s?)", s, d, d.Masked())
	}
	if r.Via.IsValid() && r.Via.Is4() != d.Addr().Is4() {
		return Route{}, fmt.Errorf("bad route %q: gateway and destination are of different families", s)
	}
	r.Dst = d
	return r, nil
}

// WithName returns the topology as a lab named name. Its Source is encoded again from
// its YAML node tree with the name key set (added first if the file has none), so
// that the lab's state, which keeps Source, parses back to the same name; a regular
// expression over the text would miss a name written in flow style, quoted or after
// a comment. The name is checked as any lab name is.
func (t *Topology) WithName(name string) (*Topology, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(t.Source, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("testlab: rename lab %s: its source is not a topology mapping", t.Name)
	}
	root := doc.Content[0]
	value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}
	set := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "name" {
			root.Content[i+1], set = value, true
		}
	}
	if !set {
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name"}
		root.Content = append([]*yaml.Node{key, value}, root.Content...)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("testlab: rename lab %s: %w", t.Name, err)
	}
	enc.Close()
	return parse(t.File, []byte(b.String()), parseOpts{limits: t.limits})
}
