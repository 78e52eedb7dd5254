package drill

import (
	"context"

	"fmt"
	"github.com/pktlab/pktlab/internal/inputfile"
	"strconv"
	"strings"
	"time"
)

// Bounds on what a script may hold. Parsing is a single pass over the tokens with one
// token of lookahead and no backtracking, so its time is linear in the input; these
// bound the memory and the nesting (recursion depth) a hostile script can ask for.
const (
	MaxEvents   = 100000             // events per script
	MaxTime     = 3600 * time.Second // the latest script time
	maxDepth    = 16                 // nesting of [ ] { } ( ) in syscall arguments and asserts
	maxArgs     = 16                 // arguments of a call, elements of a list, fields of a struct
	maxOptions  = 40                 // TCP options on a packet line
	maxSACKs    = 4                  // SACK blocks in one option (RFC 2018 §3: at most 4 fit)
	maxOptBytes = 40                 // bytes of an FO cookie or unknown option (the option space)
	maxPayload  = 1 << 20            // payload length of one packet line
)

// Parse parses a packetdrill script; file names it in errors. A script that does not
// parse returns an *Error with the file, line and column of the first problem.
func Parse(file string, src []byte) (*Script, error) {
	p := &parser{lx: newLexer(file, string(src)), s: &Script{File: file}}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.s, nil
}

type parser struct {
	lx    *lexer
	tok   token
	s     *Script
	depth int
}

// parseErr aborts the parse with an *Error; run recovers it, so the parse functions
// read as the grammar does.
type parseErr struct{ e *Error }

func (p *parser) failAt(pos Pos, format string, args ...any) {
	panic(parseErr{&Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}})
}

func (p *parser) fail(format string, args ...any) { p.failAt(p.tok.pos, format, args...) }

func (p *parser) run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseErr)
			if !ok {
				panic(r)
			}
			err = pe.e
		}
	}()
	p.advance()
	for p.tok.kind != tEOF {
		if p.tok.kind == tOption {
			p.option()
			continue
		}
		if len(p.s.Events) >= MaxEvents {
			p.fail("more than %d events in one script", MaxEvents)
		}
		p.s.Events = append(p.s.Events, p.event())
	}
	return nil
}

func (p *parser) advance() {
	t, err := p.lx.next()
	if err != nil {
		panic(parseErr{err.(*Error)})
	}
	p.tok = t
}

// expect consumes the punctuation want or fails naming what the construct needs.
func (p *parser) expect(want, what string) token {
	t := p.tok
	if !t.is(want) {
		p.fail("expected %q %s, found %s", want, what, t.describe())
	}
	p.advance()
	return t
}

func (p *parser) option() {
	t := p.tok
	if len(p.s.Events) > 0 {
		p.fail("option --%s after the first event: options go at the top of the script", strings.SplitN(t.text, "=", 2)[0])
	}
	name, value, _ := strings.Cut(t.text, "=")
	if !knownOption(name) {
		p.fail("unknown option --%s (supported: %s)", name, strings.Join(optionNames(), ", "))
	}
	p.s.Options = append(p.s.Options, Option{Pos: t.pos, Name: name, Value: value})
	p.advance()
}

// event parses one event: [time] action.
func (p *parser) event() *Event {
	e := &Event{Pos: p.tok.pos}
	switch p.tok.kind {
	case tShell, tCode:
		// A shell line or code block may come without a time (packetdrill's init
		// command, a final assert block).
	default:
		e.Time = p.time()
	}
	p.action(e)
	return e
}

// time parses *, N, +N, N~M or +N~+M.
func (p *parser) time() Time {
	switch {
	case p.tok.is("*"):
		p.advance()
		return Time{Kind: TimeAny}
	case p.tok.is("+"):
		p.advance()
		at := p.tok.pos
		t := Time{Kind: TimeRelative, Start: p.seconds()}
		if p.tok.is("~") {
			p.advance()
			p.expect("+", "in a relative range (+A~+B)")
			t.Range, t.End = true, p.seconds()
			p.checkRange(t, at)
		}
		return t
	case p.tok.kind == tNum:
		at := p.tok.pos
		t := Time{Kind: TimeAbsolute, Start: p.seconds()}
		if p.tok.is("~") {
			p.advance()
			if p.tok.is("+") {
				p.fail("an absolute range is A~B: B has no +")
			}
			t.Range, t.End = true, p.seconds()
			p.checkRange(t, at)
		}
		return t
	}
	p.fail("expected an event time (0.100, +0.100, A~B or *), found %s", p.tok.describe())
	return Time{}
}

func (p *parser) checkRange(t Time, at Pos) {
	if t.End < t.Start {
		p.failAt(at, "time range ends before it starts")
	}
}

// seconds parses a time in seconds with at most microsecond precision.
func (p *parser) seconds() time.Duration {
	t := p.tok
	if t.kind != tNum || strings.HasPrefix(t.text, "0x") {
		p.fail("expected a time in seconds, found %s", t.describe())
	}
	whole, frac, _ := strings.Cut(t.text, ".")
	if len(frac) > 6 {
		p.fail("time %s: at most 6 decimals (microseconds)", t.text)
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || time.Duration(w) > MaxTime/time.Second {
		p.fail("time %s is beyond %v", t.text, MaxTime)
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	p.advance()
	return time.Duration(w)*time.Second + time.Duration(us)*time.Microsecond
}

// uint32Tok parses an unsigned 32-bit number (decimal or 0x hex).
func (p *parser) uint32Tok(what string) uint32 {
	t := p.tok
	if t.kind != tNum || strings.Contains(t.text, ".") {
		p.fail("expected %s (an integer), found %s", what, t.describe())
	}
	v, err := strconv.ParseUint(t.text, 0, 32)
	if err != nil {
		p.fail("%s %s does not fit in 32 bits", what, t.text)
	}
	p.advance()
	return uint32(v)
}

func (p *parser) action(e *Event) {
	t := p.tok
	switch {
	case t.is("<") || t.is(">"):
		e.Kind, e.Packet = EventPacket, p.packet()
	case t.is("..."):
		p.advance()
		end := p.seconds()
		e.Kind, e.Call = EventSyscall, p.syscall()
		e.Call.End, e.Call.EndSet = end, true
	case t.kind == tWord:
		e.Kind, e.Call = EventSyscall, p.syscall()
	case t.kind == tShell:
		e.Kind, e.Shell = EventShell, t.text
		p.advance()
	case t.kind == tCode:
		e.Kind, e.Code = EventCode, parseAsserts(t)
		p.advance()
	default:
		p.fail("expected a packet (< or >), a call, a `shell command` or %%{ code }%% after the time, found %s", t.describe())
	}
}

// Load reads and parses the script at path: a regular file of at most 1 MiB
// (internal/inputfile), read so that ctx can stop it.
func Load(ctx context.Context, path string) (*Script, error) {
	src, err := inputfile.Read(ctx, path, inputfile.Script)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}
