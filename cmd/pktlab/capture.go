package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/spf13/cobra"
	"golang.org/x/net/bpf"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/capfilter"
	"github.com/pktlab/pktlab/testlab"
)

func init() { rootCmd.AddCommand(newCaptureCmd()) }

// captureOpts are the flags of pktlab capture.
type captureOpts struct {
	filter   string
	filterF  string // -F: read the filter from this file
	write    string
	count    int
	cooked   bool
	promisc  bool
	proto    string
	pcap     bool
	print    bool
	verbose  bool
	hex      bool
	asJSON   bool
	duration time.Duration
	bufferKB int
	noRing   bool
	pic      pictureFlags
}

func newCaptureCmd() *cobra.Command {
	var o captureOpts
	c := &cobra.Command{
		Use:   "capture LAB NODE:IF [NODE:IF...]",
		Short: "Capture frames on lab interfaces, like tcpdump, merged in time order",
		Long: `Opens a packet socket on each NODE:IF inside its node and prints every frame as
tcpdump -n would, prefixed by node:iface, merged across interfaces in timestamp order.
-f takes a tcpdump filter expression, compiled to classic BPF and attached in the kernel
before the socket is bound. --promisc joins the interface's promiscuous membership
(PACKET_ADD_MEMBERSHIP), which the kernel drops when pktlab exits, however it exits.
-w writes a pcapng file with one interface named "node:iface" per capture point (or
classic pcap with --pcap). Stops at Ctrl-C, after -c frames or after --duration, and
then prints the kernel's received and dropped counts per interface on stderr.

-B is the receive ring of each interface in KiB, as tcpdump's -B (default 32768, 32 MiB;
rounded down to 256 KiB blocks, at least 512 KiB). The rings of one capture together
may take at most 1 GiB and a quarter of the machine's available memory; a larger -B is
refused before anything is opened. A file written with -w is flushed at least every
half second, so a capture that is killed loses at most its last half second.`,
		Example: `  sudo pktlab capture crs client:eth0
  sudo pktlab capture crs router:eth0 router:eth1 -f 'tcp port 80' -c 10
  sudo pktlab capture crs client:eth0 server:eth0 -w both.pcapng --duration 5s
  sudo pktlab capture crs router:eth1 -B 131072 -w busy.pcapng   # 128 MiB ring, as tcpdump -B 131072
  sudo pktlab capture crs client:eth0 --cooked --protocol arp
  sudo pktlab capture crs server:eth0 --json -c 1
  sudo pktlab capture crs client:eth0 router:eth0 router:eth1 server:eth0 --ladder --duration 5s`,
		Args: cobraArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCapture(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1:], &o)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.filter, "filter", "f", "", "tcpdump filter expression, run in the kernel")
	f.StringVarP(&o.filterF, "filter-file", "F", "", "read the filter expression from this file, as tcpdump -F ('#' starts a comment)")
	f.StringVarP(&o.write, "write", "w", "", "write frames to this pcapng file (pcap with --pcap)")
	f.IntVarP(&o.count, "count", "c", 0, "stop after this many frames (0: no limit)")
	f.BoolVar(&o.cooked, "cooked", false, "SOCK_DGRAM: frames without their Ethernet header")
	f.BoolVar(&o.promisc, "promisc", false, "promiscuous mode by PACKET_ADD_MEMBERSHIP")
	f.StringVar(&o.proto, "protocol", "all", "socket protocol: all, ip, arp, ip6 or an EtherType number")
	f.BoolVar(&o.pcap, "pcap", false, "with -w, write classic pcap instead of pcapng")
	f.BoolVar(&o.print, "print", false, "with -w, also print the frames")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print every header field under each line")
	f.BoolVarP(&o.hex, "hex", "x", false, "print a hex dump of each packet, as tcpdump -x")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object per frame")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long, e.g. 5s (0: until Ctrl-C)")
	f.IntVarP(&o.bufferKB, "buffer", "B", 32<<10, "receive ring (or with --no-ring, socket buffer) per interface, in KiB as tcpdump -B")
	f.BoolVar(&o.noRing, "no-ring", false, "read with one recvmsg(2) per frame instead of a TPACKET_V3 ring")
	o.pic.register(f)
	return c
}

// endpoint is a NODE:IF argument resolved in a lab.
type endpoint struct {
	node  *testlab.Node
	iface string
}

func (e endpoint) String() string { return e.node.Name() + ":" + e.iface }

// openEndpoints is openIn for NODE:IF arguments (exit 2 on bad input).
func openEndpoints(labName string, args []string) (*testlab.Lab, []endpoint, error) {
	return openIn(labName, func(l *testlab.Lab) ([]endpoint, error) { return parseEndpoints(l, args) })
}

// parseEndpoints resolves NODE:IF arguments (exit 2 on bad input).
func parseEndpoints(l *testlab.Lab, args []string) ([]endpoint, error) {
	var eps []endpoint
	for _, a := range args {
		node, iface, ok := strings.Cut(a, ":")
		if !ok || node == "" || iface == "" {
			return nil, usageError("%q: want NODE:IF, e.g. client:eth0", a)
		}
		n, err := lookupNode(l, node)
		if err != nil {
			return nil, err
		}
		if _, err := n.Interface(iface); err != nil {
			return nil, usageError("%v", err)
		}
		eps = append(eps, endpoint{n, iface})
	}
	return eps, nil
}

// compileFilter compiles a tcpdump expression for a raw (Ethernet) or cooked socket
// (frames from the network header on). Syntax errors exit 2.
func compileFilter(expr string, cooked bool) ([]bpf.Instruction, error) {
	if expr == "" {
		return nil, nil
	}
	lt := capfilter.LinkTypeEthernet
	if cooked {
		lt = capfilter.LinkTypeRaw
	}
	prog, err := capfilter.Compile(expr, lt)
	if err != nil {
		return nil, usageError("filter %q: %v", expr, err)
	}
	return prog, nil
}

// validate checks the flags before anything is opened, for n capture points.
func (o *captureOpts) validate(n int) error {
	if o.count < 0 {
		return usageError("-c %d: want a number of frames, or 0 for no limit", o.count)
	}
	if o.duration < 0 {
		return usageError("--duration %v: want a positive duration such as 5s, or 0 to run until Ctrl-C", o.duration)
	}
	if o.bufferKB <= 0 {
		return usageError("-B %d: want the receive ring per interface in KiB, as tcpdump -B (default %d)", o.bufferKB, 32<<10)
	}
	limit, err := rawsock.RecvMemoryLimit()
	if err != nil {
		return err
	}
	if o.bufferKB > rawsock.MaxRecvMemory>>10 {
		return usageError("-B %d: over the %d KiB (1 GiB) that the rings of a capture may take in all; give a smaller -B", o.bufferKB, rawsock.MaxRecvMemory>>10)
	}
	per := o.bufferKB << 10
	if !o.noRing {
		per = rawsock.RingSize(per)
	}
	if per*n > limit {
		return usageError("-B %d: %d interface(s) × %d KiB is over the %d KiB this capture may take now (at most 1 GiB in all, and a quarter of the available memory); give a smaller -B",
			o.bufferKB, n, per>>10, limit>>10)
	}
	if (o.pcap || o.print) && o.write == "" {
		return usageError("--pcap and --print go with -w FILE")
	}
	if err := o.pic.validate(); err != nil {
		return err
	}
	if o.pic.ladder && (o.cooked || o.verbose || o.hex || o.asJSON || o.print) {
		return usageError("--ladder draws Ethernet frames once the capture ends; it does not go with --cooked, -v, -x, --json or --print")
	}
	return nil
}

// captureFlushInterval is how often capture -w writes out what it has gathered: a
// killed capture loses at most this much.
const captureFlushInterval = 500 * time.Millisecond

func runCapture(ctx context.Context, stdout, stderr io.Writer, labName string, args []string, o *captureOpts) (err error) {
	if err := o.validate(len(args)); err != nil {
		return err
	}
	proto, err := rawsock.ParseProtocol(o.proto)
	if err != nil {
		return usageError("%v", err)
	}
	prog, err := o.program(ctx)
	if err != nil {
		return err
	}
	l, eps, err := openEndpoints(labName, args)
	if err != nil {
		return err
	}
	defer l.Release()
	conns, fis, err := openCaptures(eps, o, proto, prog)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	p := &framePrinter{w: stdout, verbose: o.verbose, hex: o.hex, asJSON: o.asJSON, names: fis, s: rawsock.NewSummarizer()}
	lad := o.pic.newFrameLadder(stdout, args) // with --ladder, frames are drawn at the end instead
	if lad != nil {
		defer func() { err = errors.Join(err, lad.draw(stdout)) }()
	}
	fw, closeFile, err := o.createFile(stderr, fis)
	if err != nil {
		return err
	}
	defer closeFile()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	fmt.Fprintf(stderr, "pktlab: capturing on %s (Ctrl-C to stop)\n", strings.Join(args, " "))
	n := 0
	err = rawsock.Capture(ctx, conns, func(c rawsock.Captured) error {
		if o.count > 0 && n >= o.count {
			return nil
		}
		n++
		if fw != nil {
			if err := fw.WriteFrame(c.Source, &c.Frame); err != nil {
				return err
			}
		}
		if lad != nil {
			if err := lad.captured(c); err != nil {
				return err
			}
		} else if fw == nil || o.print {
			if err := p.print(c.Source, c.Frame.Time, linkOf(o.cooked), frameBytes(&c.Frame, o.cooked), c.Frame.Length); err != nil {
				return err
			}
		}
		if o.count > 0 && n >= o.count {
			stop()
		}
		return nil
	})
	fmt.Fprintf(stderr, "%d frames captured\n", n)
	return errorsJoin(err, captureStats(stderr, conns, fis))
}

// program reads -F's file, if any, and compiles the filter.
func (o *captureOpts) program(ctx context.Context) ([]bpf.Instruction, error) {
	if o.filterF != "" {
		lt := capfilter.LinkTypeEthernet
		if o.cooked {
			lt = capfilter.LinkTypeRaw
		}
		var err error
		if o.filter, err = readFilterFile(ctx, o.filter, o.filterF, lt); err != nil {
			return nil, err
		}
	}
	return compileFilter(o.filter, o.cooked)
}

// openCaptures opens a packet socket on each endpoint; it returns those it opened
// even on an error, for the caller to close.
func openCaptures(eps []endpoint, o *captureOpts, proto rawsock.Protocol, prog []bpf.Instruction) ([]*rawsock.Conn, []rawsock.FileInterface, error) {
	var conns []*rawsock.Conn
	var fis []rawsock.FileInterface
	for _, ep := range eps {
		cfg := &rawsock.Config{Cooked: o.cooked, Protocol: proto, Promisc: o.promisc, Filter: prog}
		if o.noRing {
			cfg.RecvBuffer = o.bufferKB << 10
		} else {
			cfg.Ring = o.bufferKB << 10 // frames arrive without a system call each, as in tcpdump
		}
		c, err := rawsock.Open(ep.node, ep.iface, cfg)
		if err != nil {
			return conns, fis, err
		}
		conns = append(conns, c)
		fis = append(fis, rawsock.FileInterface{Name: ep.String(), Cooked: o.cooked, Filter: o.filter})
	}
	return conns, fis, nil
}

// createFile opens -w's file, flushed every captureFlushInterval; the returned
// function flushes and closes it. Without -w the writer is nil.
func (o *captureOpts) createFile(stderr io.Writer, fis []rawsock.FileInterface) (*rawsock.FileWriter, func(), error) {
	if o.write == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(o.write)
	if err != nil {
		return nil, nil, usageError("capture file: %v", err)
	}
	newW := rawsock.NewPcapngWriter
	if o.pcap {
		newW = rawsock.NewPcapWriter
	}
	fw, err := newW(f, fis)
	if err != nil {
		f.Close()
		return nil, nil, usageError("%v", err)
	}
	stopFlush := flushEvery(fw, captureFlushInterval)
	return fw, func() {
		stopFlush()
		if ferr := fw.Flush(); ferr != nil {
			fmt.Fprintln(stderr, "pktlab:", ferr)
		}
		f.Close()
	}, nil
}

// captureStats prints the kernel's counts of each socket.
func captureStats(stderr io.Writer, conns []*rawsock.Conn, fis []rawsock.FileInterface) error {
	var err error
	for i, c := range conns {
		st, serr := c.Stats()
		if serr != nil {
			err = errorsJoin(err, serr)
			continue
		}
		fmt.Fprintf(stderr, "%s: %d received by filter, %d dropped by kernel\n", fis[i].Name, st.Received, st.Dropped)
	}
	return err
}

// flushEvery flushes fw every d until the returned function is called; it returns
// once the flushing goroutine has stopped.
func flushEvery(fw *rawsock.FileWriter, d time.Duration) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if fw.Flush() != nil {
					return // WriteFrame returns the same error to the capture
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func linkOf(cooked bool) layers.LinkType {
	if cooked {
		return layers.LinkTypeLinuxSLL
	}
	return layers.LinkTypeEthernet
}

// frameBytes returns what the summary reads: for a cooked frame, a Linux cooked
// header in front of the packet, as tcpdump -i any shows.
func frameBytes(f *rawsock.Frame, cooked bool) []byte {
	if !cooked {
		return f.Data
	}
	return append(rawsock.AppendSLL(nil, f), f.Data...)
}
