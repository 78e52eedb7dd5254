package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/spf13/cobra"

	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/picture"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/capfilter"
)

func init() { rootCmd.AddCommand(newDecodeCmd()) }

func newDecodeCmd() *cobra.Command {
	var filter, filterFile string
	var verbose, hex, asJSON bool
	var pf pictureFlags
	c := &cobra.Command{
		Use:   "decode FILE",
		Short: "Print the frames of a pcap or pcapng file, like tcpdump -n -r",
		Long: `Reads a pcap or pcapng file (such as one written by pktlab capture -w) and prints one
tcpdump -n style line per frame, prefixed by the interface name the pcapng file gives it.
-f keeps only frames matching a tcpdump filter expression (run in the BPF VM); -v adds
every header field, -x a hex dump from the network header on, as tcpdump -x.

A damaged file is decoded as far as it can be: a pcapng block that breaks the format
but whose length is intact is skipped, with a warning naming the file, the frame number
and the byte offset, and decoding goes on; a file cut short, or a record whose length
cannot be trusted, ends decoding there with the same details. A frame whose capture
length exceeds its original length is printed, as tcpdump does. Exit status: 0 for a
whole file, 1 for a damaged one (after printing every frame it could), 2 for a file
that is not a capture file at all.`,
		Example: `  pktlab decode both.pcapng
  pktlab decode both.pcapng -f 'tcp[tcpflags] & tcp-syn != 0' -v
  pktlab decode trace.pcap -x
  pktlab decode trace.pcap --json
  pktlab decode both.pcapng --ladder --flow 1`,
		Args: cobraArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.validate(); err != nil {
				return err
			}
			if pf.ladder && (verbose || hex || asJSON) {
				return usageError("--ladder draws the frames; it does not go with -v, -x or --json")
			}
			if filterFile != "" {
				var err error
				if filter, err = readFilterFile(cmd.Context(), filter, filterFile, capfilter.LinkTypeEthernet); err != nil {
					return err
				}
			}
			return runDecode(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], filter, verbose, hex, asJSON, pf.newFrameLadder(cmd.OutOrStdout(), nil))
		},
	}
	c.Flags().StringVarP(&filter, "filter", "f", "", "tcpdump filter expression")
	c.Flags().StringVarP(&filterFile, "filter-file", "F", "", "read the filter expression from this file, as tcpdump -F ('#' starts a comment)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every header field under each line")
	c.Flags().BoolVarP(&hex, "hex", "x", false, "print a hex dump of each packet, as tcpdump -x")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per frame")
	pf.register(c.Flags())
	return c
}

// runDecode prints the frames of a capture file. Damage is reported on stderr as
// it is met; it makes the command fail only once every readable frame is printed.
// With a ladder, the frames are drawn at the end instead.
func runDecode(ctx context.Context, w, stderr io.Writer, path, filter string, verbose, hex, asJSON bool, lad *frameLadder) error {
	if filter != "" {
		// A bad expression is bad input whatever the file holds.
		if _, err := capfilter.Compile(filter, capfilter.LinkTypeEthernet); err != nil {
			return usageError("filter %q: %v", filter, err)
		}
	}
	f, r, err := openCaptureFile(ctx, path)
	if err != nil {
		return err
	}
	defer f.Close()
	filters := map[layers.LinkType]*capfilter.Filter{}
	p := &framePrinter{w: w, verbose: verbose, hex: hex, asJSON: asJSON, s: rawsock.NewSummarizer()}
	damaged := 0
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: stopped after %d frames: %w", path, n, context.Cause(ctx))
		}
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var fe *rawsock.FileError
		if errors.As(err, &fe) && fe.Skipped {
			damaged++
			fmt.Fprintf(stderr, "pktlab: %s: %v; skipped\n", path, err)
			continue
		}
		if err != nil && ctx.Err() != nil {
			continue // a read cut by the signal: say so at the top of the loop
		}
		if err != nil {
			return fmt.Errorf("%s: %w; decoded the %d frames before it", path, err, n-damaged)
		}
		if filter != "" {
			ok, err := matchFilter(filters, filter, fr.Link, fr.Data)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		if lad != nil {
			if err := lad.add(fr.Interface, r.Interfaces, fr.Time, fr.Link, fr.Data, picture.DirUnknown); err != nil {
				return err
			}
			continue
		}
		p.names = p.names[:0]
		for _, n := range r.Interfaces {
			p.names = append(p.names, rawsock.FileInterface{Name: n})
		}
		if err := p.print(fr.Interface, fr.Time, fr.Link, fr.Data, fr.Length); err != nil {
			return err
		}
	}
	if lad != nil {
		if err := lad.draw(w); err != nil {
			return err
		}
	}
	if damaged > 0 {
		return fmt.Errorf("%s: damaged: skipped %d record(s), decoded the other frames", path, damaged)
	}
	return nil
}

// openCaptureFile opens a pcap or pcapng file: a regular file, read one record at a
// time, so of any size; reads stop at Ctrl-C. A file that is not one is bad input.
func openCaptureFile(ctx context.Context, path string) (io.Closer, *rawsock.FileReader, error) {
	f, err := inputfile.Open(ctx, path, inputfile.Capture)
	if err != nil {
		return nil, nil, usageError("%v", err)
	}
	r, err := rawsock.NewFileReader(f)
	if errors.Is(err, rawsock.ErrNotCapture) {
		f.Close()
		return nil, nil, usageError("%s: %v", path, strings.TrimPrefix(err.Error(), "rawsock: "))
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (not one frame could be read)", path, err)
	}
	return f, r, nil
}

// matchFilter runs expr, compiled once per link type, on a frame. Linux cooked frames
// are matched from their network header on.
func matchFilter(cache map[layers.LinkType]*capfilter.Filter, expr string, link layers.LinkType, data []byte) (bool, error) {
	lt := capfilter.LinkTypeEthernet
	switch link {
	case layers.LinkTypeEthernet:
	case layers.LinkTypeLinuxSLL:
		lt, data = capfilter.LinkTypeRaw, data[min(16, len(data)):]
	case layers.LinkTypeRaw:
		lt = capfilter.LinkTypeRaw
	default:
		return false, usageError("filter on link type %v is not supported", link)
	}
	flt := cache[link]
	if flt == nil {
		var err error
		if flt, err = capfilter.New(expr, lt); err != nil {
			return false, usageError("filter %q: %v", expr, err)
		}
		cache[link] = flt
	}
	return flt.Match(data), nil
}
