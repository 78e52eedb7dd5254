package picture

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ANSI SGR sequences (ECMA-48 §8.3.117).
const (
	reset   = "\033[0m"
	bold    = "\033[1m"
	dim     = "\033[2m"
	red     = "\033[31m"
	green   = "\033[32m"
	yellow  = "\033[33m"
	blue    = "\033[34m"
	magenta = "\033[35m"
	cyan    = "\033[36m"
)

// ColorMode is the --color setting.
type ColorMode int

// Colour modes.
const (
	ColorAuto   ColorMode = iota // on a terminal, unless NO_COLOR is set
	ColorAlways                  // whatever the output is
	ColorNever
)

// ParseColorMode reads "auto", "always" or "never".
func ParseColorMode(s string) (ColorMode, error) {
	switch s {
	case "auto", "":
		return ColorAuto, nil
	case "always":
		return ColorAlways, nil
	case "never":
		return ColorNever, nil
	}
	return 0, fmt.Errorf("--color %q: want auto, always or never", s)
}

// Use reports whether to colour: always, never, or in auto mode on a terminal when
// the NO_COLOR convention (https://no-color.org: set and not empty) does not forbid it.
func (m ColorMode) Use(terminal bool, noColor string) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	return terminal && noColor == ""
}

// Legend is one line that says what the text timeline's prefixes mean (the flows
// [fN] are listed at its end).
const Legend = "key: -- step  == call  :: state  kt kernel  nf verdict  ct conntrack  !! note"

// ladderKey names the marks of the rows under the lanes of a ladder, in this order,
// each where a ladder has a row of its kind.
var ladderKey = []struct {
	kind RowKind
	text string
}{
	{RowCall, "== call"}, {RowState, ":: state"}, {RowKernel, "kt kernel: retransmit, RST, drop"},
	{RowVerdict, "nf verdict"}, {RowCT, "ct conntrack"}, {RowNote, "!! failed"},
}

// colors is the palette of a ladder; every field is "" without colour.
type colors struct {
	on                         bool
	time, bar, lane, nat, head string
}

func palette(on bool) colors {
	if !on {
		return colors{}
	}
	return colors{on: true, time: dim, bar: dim, lane: bold, nat: magenta, head: bold}
}

func (c colors) title(s string) string {
	if !c.on {
		return s
	}
	return c.head + s + reset
}

// arrow is the colour of a frame's arrow: red for a reset, a loss or a drop, green
// for a handshake, yellow for a close.
func (c colors) arrow(r Row) string {
	if !c.on {
		return ""
	}
	if r.Lost || r.Drop != "" {
		return red
	}
	fl := r.Frame.Packet.Flags.String()
	switch {
	case strings.Contains(fl, "R"):
		return red
	case strings.Contains(fl, "S"):
		return green
	case strings.Contains(fl, "F"):
		return yellow
	}
	return ""
}

func (c colors) kind(r Row) string {
	if !c.on {
		return ""
	}
	if r.Fail {
		return red
	}
	return kindColor(r.Kind.Mark())
}

// mark is the colour of a row's mark in a ladder's key.
func (c colors) mark(m string) string {
	if !c.on {
		return ""
	}
	return kindColor(m)
}

func kindColor(mark string) string {
	switch mark {
	case "==":
		return green
	case "::":
		return yellow
	case "nf":
		return blue
	case "ct":
		return cyan
	case "--":
		return bold
	case "!!":
		return magenta
	case "kt":
		return red
	}
	return ""
}

// ColorTimeline returns a writer that colours the lines of a text timeline (and the
// run report around it) by their prefix as they pass through to w; Flush writes out
// a last line without its newline.
func ColorTimeline(w io.Writer) *TimelineColorer { return &TimelineColorer{w: w} }

// TimelineColorer colours timeline lines; see ColorTimeline.
type TimelineColorer struct {
	w   io.Writer
	buf []byte
}

func (t *TimelineColorer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := io.WriteString(t.w, colorLine(string(t.buf[:i]))+"\n"); err != nil {
			return 0, err
		}
		t.buf = t.buf[i+1:]
	}
}

// Flush writes what is left of an unfinished line.
func (t *TimelineColorer) Flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := io.WriteString(t.w, colorLine(string(t.buf)))
	t.buf = t.buf[:0]
	return err
}

// colorLine colours one line of run's text output: a timeline line ("   0.001840  ==
// …", "   0.002123 [f1] …") by its prefix, an expectation result by PASS or FAIL.
func colorLine(s string) string {
	switch {
	case strings.HasPrefix(s, "PASS ") || strings.HasPrefix(s, "=== PASS"):
		return green + s + reset
	case strings.HasPrefix(s, "FAIL ") || strings.HasPrefix(s, "=== FAIL") || strings.HasPrefix(s, "RUN FAILED"):
		return red + s + reset
	case strings.HasPrefix(s, "# "):
		return dim + s + reset
	case len(s) < timeWidth+5 || s[timeWidth-7] != '.':
		return s
	}
	ts, rest := s[:timeWidth], s[timeWidth:]
	if strings.HasPrefix(rest, " [f") {
		tag, tail, _ := strings.Cut(rest[1:], "]")
		return dim + ts + reset + " " + cyan + tag + "]" + reset + tail
	}
	if len(rest) < 4 || rest[:2] != "  " {
		return s
	}
	mark := rest[2:4]
	col := kindColor(mark)
	if mark == "!!" {
		switch {
		case strings.HasPrefix(rest, "  !!  FAIL"):
			col = red
		case strings.HasPrefix(rest, "  !!  PASS"):
			col = green
		}
	}
	if col == "" {
		return s
	}
	return dim + ts + reset + col + rest + reset
}
