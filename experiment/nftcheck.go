package experiment

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// nftText is one nftables text of a file, where it was written and for which node:
// a ruleset applied before the steps (nft:), an nft step, or a trace filter.
type nftText struct {
	node, text string
	v          *yaml.Node
	trace      bool
}

// nftChecker runs nft --check on text in a throwaway network namespace of its own
// (never the host's) that has the given interfaces and in which before was applied
// first, as filter.CheckText does: a *filter.NFTError when nft refuses the text, and
// another error when the check itself could not run (filter.ErrCheckNamespace without
// the privilege, no nft).
type nftChecker func(ifaces, before []string, text string) error

// checkNFT checks every nftables text of the file before any lab exists: through
// filter.Validate where pktlab's subset of nft covers it, and otherwise with nft
// --check (filter.CheckText), with the node's earlier texts applied first so that
// a step adding a rule to a table of the setup is checked against that table. An error
// is reported at the text's position in the file. Trace filters are installed by the
// filter package, so its subset must cover them.
func (p *parser) checkNFT(t *testlab.Topology, check nftChecker) {
	applied := map[string][]string{} // node -> texts before this one
	for _, x := range append(p.nftSetup, p.nftSteps...) {
		spec := t.Node(x.node)
		if spec == nil {
			continue // reported with the node
		}
		ifs := filter.InterfaceMap{}
		var names []string
		for i, it := range spec.Interfaces {
			ifs[it.Name] = i + 2 // 1 is lo
			names = append(names, it.Name)
		}
		if x.trace {
			p.checkTraceFilter(x, ifs)
			continue
		}
		_, verr := filter.Validate("nft", []byte(x.text), ifs)
		if verr != nil && check != nil {
			err := check(names, applied[x.node], x.text)
			var refused *filter.NFTError
			switch {
			case err == nil:
			case errors.Is(err, filter.ErrCheckNamespace):
				// Without the privilege to make a namespace (a user's run or --check),
				// nothing can run either: pktlab run says it needs root, and as root the
				// text is checked.
			case errors.As(err, &refused):
				p.nftError(x, refused)
			default:
				p.Errorf(x.v, "nft ruleset of %s: %s; and nft --check could not run: %v", x.node, filterMsg(verr), err)
			}
		} else if verr != nil {
			p.nftFilterError(x, verr)
		}
		applied[x.node] = append(applied[x.node], x.text)
	}
}

// traceSource is the ruleset a trace filter is installed in, as filter.Conn.Trace
// writes it (filter/trace_linux.go): the filter's matches on line 4 and 8, after two
// tabs.
func traceSource(expr string) string {
	return fmt.Sprintf("table inet t {\n\tchain pre {\n\t\ttype filter hook prerouting priority 0; policy accept;\n\t\t%s meta nftrace set 1\n\t}\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n\t\t%s meta nftrace set 1\n\t}\n}\n", expr, expr)
}

func (p *parser) checkTraceFilter(x nftText, ifs filter.Interfaces) {
	if strings.ContainsAny(x.text, ";\n#") {
		p.Errorf(x.v, "trace filter of %s: give matches only, on one line, without ';'", x.node)
		return
	}
	_, err := filter.Validate("trace", []byte(traceSource(x.text)), ifs)
	var pe *filter.ParseError
	if err == nil {
		return
	}
	if errors.As(err, &pe) && (pe.Pos.Line == 4 || pe.Pos.Line == 8) {
		p.Errs = append(p.Errs, &Error{Pos: p.textPos(x.v, 1, pe.Pos.Col-2), Msg: "trace filter of " + x.node + ": " + filterMsg(err)})
		return
	}
	p.Errorf(x.v, "trace filter of %s: %s", x.node, filterMsg(err))
}

// nftFilterError reports filter's error at its place in the text.
func (p *parser) nftFilterError(x nftText, err error) {
	var pe *filter.ParseError
	if errors.As(err, &pe) && pe.Pos.Line > 0 {
		p.Errs = append(p.Errs, &Error{Pos: p.textPos(x.v, pe.Pos.Line, pe.Pos.Col), Msg: "nft ruleset of " + x.node + ": " + filterMsg(err)})
		return
	}
	p.Errorf(x.v, "nft ruleset of %s: %s", x.node, filterMsg(err))
}

// filterMsg is a filter error without its position (the caller places it).
func filterMsg(err error) string {
	var pe *filter.ParseError
	if errors.As(err, &pe) {
		if pe.Token != "" {
			return pe.Token + ": " + pe.Msg
		}
		return pe.Msg
	}
	return strings.TrimPrefix(err.Error(), "filter: ")
}

// nftError reports what nft --check refused, at the place in the file it names.
func (p *parser) nftError(x nftText, e *filter.NFTError) {
	if e.Line == 0 {
		p.Errorf(x.v, "nft ruleset of %s: nft --check refuses it: %s", x.node, e.Msg)
		return
	}
	p.Errs = append(p.Errs, &Error{Pos: p.textPos(x.v, e.Line, e.Col), Msg: "nft ruleset of " + x.node + ": " + e.Msg + " (nft --check)"})
}

// textPos is the file position of line and col (from 1) of the text of scalar v: in
// a block scalar (| or >) the text's lines are the lines after v's, past their
// indentation; in a quoted or plain scalar the text starts at v (one column later
// for the quote).
func (p *parser) textPos(v *yaml.Node, line, col int) Pos {
	if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		l := v.Line + line
		return Pos{File: p.File, Line: l, Col: p.indentOf(v.Line) + col}
	}
	if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		col++
	}
	if line > 1 {
		return Pos{File: p.File, Line: v.Line + line - 1, Col: col}
	}
	return Pos{File: p.File, Line: v.Line, Col: v.Column + col - 1}
}

// indentOf is the indentation of a block scalar's text: that of the first non-blank
// line after the line that opens it.
func (p *parser) indentOf(open int) int {
	lines := strings.SplitN(string(p.src), "\n", open+64)
	for i := open; i < len(lines) && i < open+63; i++ {
		if t := strings.TrimLeft(lines[i], " "); t != "" {
			return len(lines[i]) - len(t)
		}
	}
	return 0
}
