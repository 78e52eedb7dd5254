package experiment

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// Error is one problem in an experiment file, at its position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos.Line == 0 {
		return e.Pos.File + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// ErrorList is every problem found in a file, in file order.
type ErrorList []*Error

// Error lists the first testlab.MaxShownErrors errors, then counts the rest, as a
// topology's list does: a file with 200 000 mistakes is not read by printing them all.
func (l ErrorList) Error() string {
	n := min(len(l), testlab.MaxShownErrors)
	s := make([]string, n, n+1)
	for i, e := range l[:n] {
		s[i] = e.Error()
	}
	if more := len(l) - n; more > 0 {
		s = append(s, fmt.Sprintf("and %d more errors", more))
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the individual errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// IsInvalid reports whether err says an experiment file is bad (exit 2), as opposed to
// a failure while running it.
func IsInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Load reads and parses an experiment file.
func Load(path string) (*File, error) {
	// A regular file of bounded size (inputfile.Experiment): read in milliseconds,
	// so no context is needed to interrupt it.
	src, err := inputfile.Read(context.Background(), path, inputfile.Experiment)
	if err != nil {
		return nil, ErrorList{{Pos: Pos{File: path}, Msg: fmt.Sprintf("cannot read: %v", err)}}
	}
	return Parse(path, src)
}

// Parse parses and checks an experiment. path names the file in errors and anchors a
// relative lab path.
func Parse(path string, src []byte) (*File, error) {
	p := &parser{file: path, src: src}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, ErrorList{yamlError(path, err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, ErrorList{{Pos: Pos{path, 1, 1}, Msg: "empty experiment: want a mapping with lab, steps and expect"}}
	}
	f := &File{Path: path, Comment: leadingComment(src), Timeout: DefaultTimeout}
	p.file0(doc.Content[0], f)
	if len(p.errs) == 0 {
		p.check(f)
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i].Pos, p.errs[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, p.errs
	}
	return f, nil
}

// leadingComment returns the '#' lines that open the file, without the '#'.
func leadingComment(src []byte) string {
	var out []string
	for _, l := range strings.Split(string(src), "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "#") {
			if t == "" && len(out) == 0 {
				continue
			}
			break
		}
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(t, "#"), " "))
	}
	return strings.Join(out, "\n")
}

func yamlError(file string, err error) *Error {
	var te *yaml.TypeError
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			fmt.Sscanf(rest[:i], "%d", &line)
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	e := &Error{Pos: Pos{File: file, Line: line}, Msg: "bad YAML: " + msg}
	if line > 0 {
		e.Pos.Col = 1
	}
	return e
}

type parser struct {
	file string
	src  []byte
	errs ErrorList
	ids  map[string]*Step

	// references checked once the whole file is read
	endpoints  []epRef
	stepRefs   []stepRef
	nodeRefs   []stepRef
	sockRefs   []sockRef
	traceRefs  []stepRef // nodes whose trace events an expectation reads
	ifaceRefs  []ifaceRef
	packetRefs []stepRef // packet sockets an expectation reads
}

type epRef struct {
	ep testlab.Endpoint
	n  *yaml.Node
}

type stepRef struct {
	name string
	n    *yaml.Node
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{p.file, n.Line, n.Column} }

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{Pos: Pos{File: p.file}, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Pos.Line, e.Pos.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

var topKeys = []string{"lab", "sysctls", "nft", "trace", "capture", "timeout", "steps", "expect"}

func (p *parser) file0(root *yaml.Node, f *File) {
	var labNode *yaml.Node
	labEnd := strings.Count(string(p.src), "\n") // last line (0-based) of the lab block
	p.mapping(root, "experiment", topKeys, func(k, v *yaml.Node) {
		if labNode != nil && labEnd == strings.Count(string(p.src), "\n") {
			labEnd = k.Line - 2
		}
		switch k.Value {
		case "lab":
			labNode = v
		case "timeout":
			f.Timeout = p.duration(v, "timeout")
		case "sysctls":
			p.mapping(v, "sysctls", nil, func(nk, nv *yaml.Node) {
				p.nodeRefs = append(p.nodeRefs, stepRef{nk.Value, nk})
				f.Sysctls = append(f.Sysctls, p.settings(nk.Value, nv)...)
			})
		case "nft":
			p.mapping(v, "nft", nil, func(nk, nv *yaml.Node) {
				p.nodeRefs = append(p.nodeRefs, stepRef{nk.Value, nk})
				if s, ok := p.scalar(nv, "nft ruleset of "+nk.Value); ok {
					f.NFT = append(f.NFT, NodeRuleset{Node: nk.Value, Ruleset: s, Pos: p.pos(nk)})
				}
			})
		case "trace":
			p.mapping(v, "trace", nil, func(nk, nv *yaml.Node) {
				p.nodeRefs = append(p.nodeRefs, stepRef{nk.Value, nk})
				if s, ok := p.scalar(nv, "trace filter of "+nk.Value); ok {
					f.Trace = append(f.Trace, NodeTrace{Node: nk.Value, Expr: s, Pos: p.pos(nk)})
				}
			})
		case "capture":
			for _, s := range p.stringList(v, "capture") {
				ep, ok := parseEndpoint(s.Value)
				if !ok {
					p.errorf(s, "capture %q must be node:interface", s.Value)
					continue
				}
				f.Capture = append(f.Capture, ep)
				p.endpoints = append(p.endpoints, epRef{ep, s})
			}
		case "steps":
			f.Steps = p.steps(v)
		case "expect":
			f.Expect = p.expects(v)
		}
	})
	if root.Kind != yaml.MappingNode {
		return
	}
	if labNode == nil {
		p.errorf(root, "the experiment has no lab: give a topology inline or a path to one")
	} else {
		p.lab(labNode, labEnd, f)
	}
	if len(f.Steps) == 0 && len(p.errs) == 0 {
		p.errorf(root, "the experiment has no steps")
	}
}

func parseEndpoint(s string) (testlab.Endpoint, bool) {
	n, i, ok := strings.Cut(s, ":")
	if !ok || n == "" || i == "" {
		return testlab.Endpoint{}, false
	}
	return testlab.Endpoint{Node: n, Interface: i}, true
}

func (p *parser) settings(node string, v *yaml.Node) []NodeSetting {
	var out []NodeSetting
	p.mapping(v, "sysctls of "+node, nil, func(k, sv *yaml.Node) {
		if s, ok := p.scalar(sv, "sysctl "+k.Value); ok {
			if !strings.HasPrefix(k.Value, "net.") {
				p.errorf(k, "sysctl %q: only net.* sysctls are per namespace", k.Value)
			}
			out = append(out, NodeSetting{Node: node, Key: k.Value, Value: s, Pos: p.pos(k)})
		}
	})
	return out
}

// lab parses the lab: a path (relative to the experiment) or an inline topology.
func (p *parser) lab(v *yaml.Node, end int, f *File) {
	if v.Kind == yaml.ScalarNode {
		path := v.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(p.file), path)
		}
		src, err := inputfile.Read(context.Background(), path, inputfile.Topology)
		if err != nil {
			p.errorf(v, "lab %q: %v", v.Value, err)
			return
		}
		t, err := testlab.ParseFile(path, src)
		if err != nil {
			p.errorf(v, "lab %q is not a valid topology:\n%v", v.Value, err)
			return
		}
		f.Lab, f.LabSrc = t, src
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "lab must be a topology mapping or a path, not %s", kindName(v))
		return
	}
	src, indent := extract(p.src, v, end)
	if !hasName(v) {
		// The padding line before the block carries the name, keeping line numbers.
		if v.Line > 1 {
			src = []byte("name: x" + string(src))
		} else {
			src = append([]byte("name: x\n"), src...) // lines shift by one; rare
		}
	}
	t, err := testlab.ParseFile(p.file, src)
	if err != nil {
		var list testlab.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				p.errs = append(p.errs, &Error{Pos: Pos{p.file, e.Line, e.Col + indent}, Msg: "lab: " + e.Msg})
			}
			return
		}
		p.errorf(v, "lab: %v", err)
		return
	}
	f.Lab, f.LabSrc = t, src
}

func hasName(v *yaml.Node) bool {
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == "name" {
			return true
		}
	}
	return false
}

// extract cuts an inline block out of the source with its line numbers kept (earlier
// lines become blank) and its indentation removed; it returns the removed indentation.
func extract(src []byte, v *yaml.Node, end int) ([]byte, int) {
	lines := strings.Split(string(src), "\n")
	start := v.Line - 1
	indent := v.Column - 1
	var b strings.Builder
	for i := range lines {
		if i < start || i > end {
			b.WriteString("\n")
			continue
		}
		l := lines[i]
		if i == start {
			l = strings.Repeat(" ", indent) + l[min(indent, len(l)):]
		}
		if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
			l = l[indent:]
		} else {
			l = strings.TrimLeft(l, " ")
			if !strings.HasPrefix(l, "#") {
				l = "#" + l // a less-indented line inside the block can only be a comment
			}
		}
		b.WriteString(l + "\n")
	}
	return []byte(b.String()), indent
}
