package experiment

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/internal/yamlpos"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// Error is one problem in an experiment file, at its position.
type Error = yamlpos.Error

// ErrorList is every problem found in a file, in file order. Its text lists the
// first yamlpos.MaxShown errors, then counts the rest, as a topology's list does: a
// file with 200 000 mistakes is not read by printing them all.
type ErrorList = yamlpos.ErrorList

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
	return parse(path, src, filter.CheckText)
}

// parse is Parse with the checker of the nftables texts that filter's subset does not
// cover; nil refuses them (FuzzParse runs no programs).
func parse(path string, src []byte, nft nftChecker) (*File, error) {
	p := &parser{Errors: yamlpos.Errors{File: path}, src: src}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, ErrorList{yamlpos.SyntaxError(path, err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, ErrorList{{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: "empty experiment: want a mapping with lab, steps and expect"}}
	}
	f := &File{Path: path, Comment: leadingComment(src), Timeout: DefaultTimeout}
	p.file0(doc.Content[0], f)
	if len(p.Errs) == 0 {
		p.check(f)
	}
	if len(p.Errs) == 0 {
		p.checkNFT(f.Lab, nft)
	}
	if len(p.Errs) > 0 {
		p.Errs.Sort()
		return nil, p.Errs
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

type parser struct {
	yamlpos.Errors
	src []byte
	ids map[string]*Step

	// references checked once the whole file is read
	endpoints  []epRef
	stepRefs   []stepRef
	nodeRefs   []stepRef
	sockRefs   []sockRef
	traceRefs  []stepRef // nodes whose trace events an expectation reads
	ifaceRefs  []ifaceRef
	packetRefs []stepRef // packet sockets an expectation reads

	nftSetup []nftText // nft: and trace: texts, applied before the steps
	nftSteps []nftText // nft steps, in file order
}

type epRef struct {
	ep testlab.Endpoint
	n  *yaml.Node
}

type stepRef struct {
	name string
	n    *yaml.Node
}

var topKeys = []string{"lab", "sysctls", "nft", "trace", "capture", "timeout", "steps", "expect"}

func (p *parser) file0(root *yaml.Node, f *File) {
	var labNode *yaml.Node
	labEnd := strings.Count(string(p.src), "\n") // last line (0-based) of the lab block
	p.Mapping(root, "experiment", topKeys, func(k, v *yaml.Node) {
		if labNode != nil && labEnd == strings.Count(string(p.src), "\n") {
			labEnd = k.Line - 2
		}
		switch k.Value {
		case "lab":
			labNode = v
		case "timeout":
			f.Timeout = p.Duration(v, "timeout")
		case "sysctls":
			p.Mapping(v, "sysctls", nil, func(nk, nv *yaml.Node) {
				p.nodeRefs = append(p.nodeRefs, stepRef{nk.Value, nk})
				f.Sysctls = append(f.Sysctls, p.settings(nk.Value, nv)...)
			})
		case "nft":
			p.Mapping(v, "nft", nil, func(nk, nv *yaml.Node) {
				p.nodeRefs = append(p.nodeRefs, stepRef{nk.Value, nk})
				if s, ok := p.Scalar(nv, "nft ruleset of "+nk.Value); ok {
					f.NFT = append(f.NFT, NodeRuleset{Node: nk.Value, Ruleset: s, Pos: p.At(nk)})
					p.nftSetup = append(p.nftSetup, nftText{node: nk.Value, text: s, v: nv})
				}
			})
		case "trace":
			p.Mapping(v, "trace", nil, func(nk, nv *yaml.Node) {
				p.nodeRefs = append(p.nodeRefs, stepRef{nk.Value, nk})
				if s, ok := p.Scalar(nv, "trace filter of "+nk.Value); ok {
					f.Trace = append(f.Trace, NodeTrace{Node: nk.Value, Expr: s, Pos: p.At(nk)})
					p.nftSetup = append(p.nftSetup, nftText{node: nk.Value, text: s, v: nv, trace: true})
				}
			})
		case "capture":
			for _, s := range p.List(v, "capture") {
				ep, ok := parseEndpoint(s.Value)
				if !ok {
					p.Errorf(s, "capture %q must be node:interface", s.Value)
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
		p.Errorf(root, "the experiment has no lab: give a topology inline or a path to one")
	} else {
		p.lab(labNode, labEnd, f)
	}
	if len(f.Steps) == 0 && len(p.Errs) == 0 {
		p.Errorf(root, "the experiment has no steps")
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
	p.Mapping(v, "sysctls of "+node, nil, func(k, sv *yaml.Node) {
		if s, ok := p.Scalar(sv, "sysctl "+k.Value); ok {
			if !strings.HasPrefix(k.Value, "net.") {
				p.Errorf(k, "sysctl %q: only net.* sysctls are per namespace", k.Value)
			}
			out = append(out, NodeSetting{Node: node, Key: k.Value, Value: s, Pos: p.At(k)})
		}
	})
	return out
}

// lab parses the lab: a path (relative to the experiment) or an inline topology.
func (p *parser) lab(v *yaml.Node, end int, f *File) {
	if v.Kind == yaml.ScalarNode {
		path := v.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(p.File), path)
		}
		src, err := inputfile.Read(context.Background(), path, inputfile.Topology)
		if err != nil {
			p.Errorf(v, "lab %q: %v", v.Value, err)
			return
		}
		t, err := testlab.ParseFile(path, src)
		if err != nil {
			p.Errorf(v, "lab %q is not a valid topology:\n%v", v.Value, err)
			return
		}
		f.Lab, f.LabSrc = t, src
		return
	}
	if v.Kind != yaml.MappingNode {
		p.Errorf(v, "lab must be a topology mapping or a path, not %s", yamlpos.KindName(v))
		return
	}
	src, indent := extract(p.src, v, end)
	if !yamlpos.HasKey(v, "name") {
		// The padding line before the block carries the name, keeping line numbers.
		if v.Line > 1 {
			src = []byte("name: x" + string(src))
		} else {
			src = append([]byte("name: x\n"), src...) // lines shift by one; rare
		}
	}
	t, err := testlab.ParseFile(p.File, src)
	if err != nil {
		var list testlab.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				p.Errs = append(p.Errs, &Error{Pos: Pos{File: p.File, Line: e.Line, Col: e.Col + indent}, Msg: "lab: " + e.Msg})
			}
			return
		}
		p.Errorf(v, "lab: %v", err)
		return
	}
	f.Lab, f.LabSrc = t, src
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
