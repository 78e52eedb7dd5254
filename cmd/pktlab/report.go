package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/experiment"
	"github.com/pktlab/pktlab/picture"
	"github.com/pktlab/pktlab/rawsock"
	tline "github.com/pktlab/pktlab/timeline"
)

// pictureFlags are the flags that draw what a command shows: --ladder, --flow,
// --width, --chatter and --color.
type pictureFlags struct {
	ladder  bool
	flow    int
	width   int
	chatter bool
	color   string

	useColor bool // resolved for the command's stdout by resolve
	// textChatter says that the command's text timeline hides link-local chatter
	// too (run), so --chatter goes without --ladder.
	textChatter bool
}

func (p *pictureFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&p.ladder, "ladder", false, "draw a ladder diagram per flow: one lane per node, one arrow per frame")
	fs.IntVar(&p.flow, "flow", 0, "with --ladder, draw only flow `N` (the [fN] of the timeline)")
	fs.IntVar(&p.width, "width", 0, "with --ladder, draw in `COLUMNS` (default: the terminal's width, else 80)")
	help := "with --ladder, also draw ARP, neighbour discovery and multicast listener reports"
	if p.textChatter {
		help += "; in the text timeline, also show link-local multicast chatter (MLD reports, solicitations to multicast, IPv6 link-local), otherwise hidden and counted"
	}
	fs.BoolVar(&p.chatter, "chatter", false, help)
	fs.StringVar(&p.color, "color", "auto", "colour the output: auto (on a terminal, unless NO_COLOR is set), always or never")
}

// validate checks the flags before anything is opened.
func (p *pictureFlags) validate() error {
	if _, err := picture.ParseColorMode(p.color); err != nil {
		return usageError("%v", err)
	}
	if p.flow < 0 || p.width < 0 {
		return usageError("--flow and --width take a positive number")
	}
	if (p.flow != 0 || p.width != 0 || p.chatter && !p.textChatter) && !p.ladder {
		return usageError("--flow, --width and --chatter go with --ladder")
	}
	return nil
}

// resolve decides colour and width for output to stdout, which may be a terminal
// (the output itself may go through a buffer first).
func (p *pictureFlags) resolve(stdout io.Writer) {
	m, _ := picture.ParseColorMode(p.color)
	p.useColor = m.Use(isTerminal(stdout), os.Getenv("NO_COLOR"))
	if p.width == 0 {
		p.width = terminalWidth(stdout)
	}
}

// textOut is where a text timeline goes: w, through a colourer when colour is on; the
// returned function flushes it.
func (p *pictureFlags) textOut(w io.Writer) (io.Writer, func()) {
	if !p.useColor {
		return w, func() {}
	}
	c := picture.ColorTimeline(w)
	return c, func() { c.Flush() }
}

// drawLadder draws a timeline's ladder to w.
func (p *pictureFlags) drawLadder(w io.Writer, tl *tline.Timeline) error {
	o := picture.LadderOptions{Width: p.width, Flow: p.flow, Color: p.useColor, Chatter: p.chatter}
	if err := picture.WriteLadder(w, picture.FromTimeline(tl), o); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// terminalWidth is the width of the terminal w is, or 0 (TIOCGWINSZ, tty_ioctl(4)).
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// frameLadder collects the frames a command would print, to draw them once it ends.
type frameLadder struct {
	flags *pictureFlags
	col   *picture.Collector
	err   error // the first frame that could not be kept, for draw
}

// newFrameLadder returns nil without --ladder; it draws for stdout.
func (p *pictureFlags) newFrameLadder(stdout io.Writer, names []string) *frameLadder {
	if !p.ladder {
		return nil
	}
	p.resolve(stdout)
	return &frameLadder{flags: p, col: picture.NewCollector(names)}
}

// captured keeps a frame of a live capture, which says which way it went.
func (l *frameLadder) captured(c rawsock.Captured) error {
	dir := picture.DirIn
	if c.Frame.Type == rawsock.PacketOutgoing {
		dir = picture.DirOut
	}
	return l.add(c.Source, nil, c.Frame.Time, layers.LinkTypeEthernet, c.Frame.Data, dir)
}

// add keeps one frame; only Ethernet frames can be drawn.
func (l *frameLadder) add(iface int, names []string, t time.Time, link layers.LinkType, data []byte, dir picture.Direction) error {
	if link != layers.LinkTypeEthernet {
		return usageError("--ladder draws Ethernet frames; this one is %v", link)
	}
	if names != nil {
		l.col.SetNames(names)
	}
	if err := l.col.Add(picture.Captured{Iface: iface, Time: t, Data: data, Dir: dir}); err != nil {
		return usageError("%v", err)
	}
	return nil
}

func (l *frameLadder) draw(w io.Writer) error {
	if l.err != nil {
		return l.err
	}
	return l.flags.drawLadder(w, l.col.Timeline())
}

// writeTimeline shows a run's timeline: the ladder with --ladder, else the text
// timeline after a legend of its prefixes.
func (p *pictureFlags) writeTimeline(w io.Writer, tl *tline.Timeline) error {
	if p.ladder {
		return p.drawLadder(w, tl)
	}
	if _, err := io.WriteString(w, picture.Legend+"\n"); err != nil {
		return err
	}
	return tl.WriteText(w)
}

// event keeps what a ladder of the userspace TCP shows: the frames it sent and
// received, and its state changes (under its lane, named after its node).
func (l *frameLadder) event(e tline.Event) {
	if l.err != nil {
		return
	}
	switch d := e.Data.(type) {
	case *tline.Frame:
		if d.Packet.Proto != "tcp" { // the ladder of a connection; ARP and ping answers aside
			return
		}
		dir := picture.DirIn
		if d.Out {
			dir = picture.DirOut
		}
		l.err = l.add(0, nil, e.Time, layers.LinkTypeEthernet, d.Data, dir)
	case *tline.UserspaceState:
		if err := l.col.AddEvent(e.Time, l.col.Names()[0], d); err != nil {
			l.err = usageError("%v", err)
		}
	}
}

func init() { rootCmd.AddCommand(newReportCmd()) }

func newReportCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "report RUN.jsonl|FILE.pcapng -o FILE.html",
		Short: "Write an HTML report of a run's JSON lines or a capture file: ladder, time-sequence graphs, flows",
		Long: `Reads the JSON lines of a run (pktlab run --json > RUN.jsonl), or a pcap or pcapng file
(such as one written by pktlab run -w or pktlab capture -w), and writes one
self-contained HTML file: the ladder of its frames (a lane per node, or per interface
of a node with several, so that a NAT rewrite is drawn across the router's lanes; zoom
and pan in time, a frame's tcpdump line on hover and its bytes on click; frames that
died marked where), a time-sequence graph of each TCP flow that carried data
(segments, ACK and window lines, SACK blocks, retransmissions and duplicate ACKs
marked, as tcptrace draws them) and the table of flows. The report of a run's JSON
lines is the one pktlab run --html writes: with the experiment's comment, its calls,
state changes and verdicts under the lanes, and its expectations with want and seen.
The page fetches nothing: its style, script and data are inline.`,
		Example: `  sudo pktlab run --json examples/D3.yaml > d3.jsonl
  pktlab report d3.jsonl -o d3.html
  pktlab report handshake.pcapng -o handshake.html
  sudo pktlab run --html c1.html examples/C1.yaml`,
		Args: cobraArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("report: -o FILE.html is required")
			}
			return runReport(cmd.Context(), args[0], out)
		},
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write the report to `FILE.html`")
	return c
}

func runReport(ctx context.Context, path, out string) error {
	isJSON, err := startsJSON(ctx, path)
	if err != nil {
		return err
	}
	if isJSON {
		rep, err := jsonReport(ctx, path)
		if err != nil {
			return err
		}
		return writeReportFile(out, rep)
	}
	f, r, err := openCaptureFile(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	col, err := picture.Collect(r)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep := &picture.Report{Title: path, Diagram: picture.FromTimeline(col.Timeline())}
	return writeReportFile(out, rep)
}

// writeRunHTML writes a run's report to path.
func writeRunHTML(path string, f *experiment.File, res *experiment.Result, runErr error) error {
	rep := &picture.Report{Title: f.Path, Comment: f.Comment, Diagram: picture.FromTimeline(res.Timeline)}
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	for _, o := range res.Outcomes {
		rep.Expectations = append(rep.Expectations, picture.Expectation{Pos: o.Expect.Pos.String(), Where: o.Where, Pass: o.Pass, Want: o.Want, Seen: o.Seen})
	}
	return writeReportFile(path, rep)
}

func writeReportFile(path string, rep *picture.Report) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := picture.WriteHTML(out, rep); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
