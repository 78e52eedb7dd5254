package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vishvananda/netlink"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/timeline"
)

func init() { rootCmd.AddCommand(newSendCmd()) }

// sendOpts are the flags of pktlab send, named as hping3 and scapy users expect.
type sendOpts struct {
	tcp, udp, icmp                         bool
	src, dst, srcMAC, dstMAC               string
	sport, dport                           uint16
	syn, ack, fin, rst, psh, urg, ece, cwr bool
	seq, ackNum                            uint32
	win, urgPtr                            uint16
	mss                                    uint16
	wscale                                 int
	sackOK                                 bool
	ts, sack, tcpOpt                       string
	ttl                                    uint8
	id                                     uint16
	df                                     bool
	tos                                    uint8
	icmpType                               int
	icmpCode                               uint8
	icmpID, icmpSeq, mtu                   uint16
	payload                                string
	data                                   int
	corrupt                                rawsock.Corruption
	count                                  int
	interval                               time.Duration
	l3                                     bool
	expect                                 string
	timeout                                time.Duration
	asJSON                                 bool
}

func newSendCmd() *cobra.Command {
	var o sendOpts
	c := &cobra.Command{
		Use:   "send LAB NODE:IF",
		Short: "Craft a frame from flags and send it from a lab interface (hping3/scapy style)",
		Long: `Builds an Ethernet frame (or, with --l3, an IP packet) from flags and sends it from
NODE:IF: an ICMP echo request by default, TCP with --tcp and flags such as --syn, UDP with
--udp. Lengths and checksums are correct unless a corruption flag (--bad-checksum,
--bad-ip-checksum, --ip-length, --udp-length, --data-offset, --truncate-option) breaks
them on purpose. Without --l3 the frame goes out of IF as is, to --dst-mac or the MAC the
node's neighbour table holds for --dst; with --l3 it goes through the node's routing
(raw IP socket, header included). --expect FILTER waits up to --timeout for the first
incoming frame on IF that matches the tcpdump filter and prints it, like scapy's sr1;
no answer exits 1.

Every flag is checked before anything is sent: addresses must be lab addresses
(198.18.0.0/15, 2001:db8::/32, loopback or link-local multicast), numbers must fit
their fields, and a flag of another transport than the frame's (--syn without --tcp)
is refused; each exits 2 with the reason. Ctrl-C between frames of -c stops the send
and prints what went (exit 130).`,
		Example: `  sudo pktlab send crs client:eth0 --dst 198.19.2.2 --l3
  sudo pktlab send crs client:eth0 --tcp --syn --dport 80 --mss 1400 --dst 198.19.2.2 --l3 \
      --expect 'tcp and src host 198.19.2.2' --timeout 2s
  sudo pktlab send crs client:eth0 --udp --dport 9 --ttl 1 --dst 198.19.2.2 --l3 --expect icmp
  sudo pktlab send crs client:eth0 --tcp --syn --bad-checksum --dst 198.18.1.1 --payload hello
  sudo pktlab send crs client:eth0 --dst 2001:db8:2::2 --l3 --json --expect icmp6`,
		Args: cobraArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd.Context(), cmd.OutOrStdout(), cmd.Flags(), args[0], args[1], &o)
		},
	}
	o.register(c.Flags())
	return c
}

// register defines send's flags, named as hping3 and scapy users expect.
func (o *sendOpts) register(f *pflag.FlagSet) {
	f.BoolVar(&o.tcp, "tcp", false, "send TCP")
	f.BoolVar(&o.udp, "udp", false, "send UDP")
	f.BoolVar(&o.icmp, "icmp", false, "send ICMP/ICMPv6 (the default): echo request unless --icmp-type")
	f.StringVar(&o.dst, "dst", "", "destination IPv4 or IPv6 address in the lab ranges (required)")
	f.StringVar(&o.src, "src", "", "source address, in the lab ranges (default: the interface's address of that family)")
	f.StringVar(&o.srcMAC, "src-mac", "", "source MAC (default: the interface's)")
	f.StringVar(&o.dstMAC, "dst-mac", "", "destination MAC (default: the node's neighbour entry for --dst)")
	f.Uint16VarP(&o.sport, "sport", "s", 40000, "source port")
	f.Uint16VarP(&o.dport, "dport", "p", 0, "destination port")
	for _, fl := range []struct {
		p    *bool
		name string
	}{{&o.syn, "syn"}, {&o.ack, "ack"}, {&o.fin, "fin"}, {&o.rst, "rst"}, {&o.psh, "push"}, {&o.urg, "urg"}, {&o.ece, "ece"}, {&o.cwr, "cwr"}} {
		f.BoolVar(fl.p, fl.name, false, "set the TCP "+strings.ToUpper(fl.name)+" flag")
	}
	f.Uint32Var(&o.seq, "seq", 1000, "TCP sequence number")
	f.Uint32Var(&o.ackNum, "ack-num", 0, "TCP acknowledgement number")
	f.Uint16Var(&o.win, "win", 64240, "TCP window")
	f.Uint16Var(&o.urgPtr, "urg-ptr", 0, "TCP urgent pointer")
	f.Uint16Var(&o.mss, "mss", 0, "TCP MSS option")
	f.IntVar(&o.wscale, "wscale", -1, "TCP window scale option, shift count 0 to 255 as sent (receivers use at most 14, RFC 7323 §2.3)")
	f.BoolVar(&o.sackOK, "sackok", false, "TCP SACK-permitted option")
	f.StringVar(&o.ts, "ts", "", "TCP timestamps option VAL:ECR")
	f.StringVar(&o.sack, "sack", "", "TCP SACK blocks LEFT-RIGHT[,LEFT-RIGHT...]")
	f.StringVar(&o.tcpOpt, "tcp-option", "", "extra TCP option KIND:HEXDATA (e.g. 99:0102)")
	f.Uint8Var(&o.ttl, "ttl", 64, "IPv4 TTL / IPv6 hop limit")
	f.Uint16Var(&o.id, "id", 0, "IPv4 identification")
	f.BoolVar(&o.df, "df", false, "set IPv4 don't fragment")
	f.Uint8Var(&o.tos, "tos", 0, "IPv4 TOS / IPv6 traffic class")
	f.IntVar(&o.icmpType, "icmp-type", -1, "ICMP/ICMPv6 type, 0 to 255 (default: echo request)")
	f.Uint8Var(&o.icmpCode, "icmp-code", 0, "ICMP code")
	f.Uint16Var(&o.icmpID, "icmp-id", 1, "ICMP echo identifier")
	f.Uint16Var(&o.icmpSeq, "icmp-seq", 1, "ICMP echo sequence number")
	f.Uint16Var(&o.mtu, "mtu", 0, "next-hop MTU of an ICMP fragmentation-needed (type 3 code 4) message")
	f.StringVar(&o.payload, "payload", "", "payload text")
	f.IntVar(&o.data, "data", 0, "payload of this many bytes, 0 to 65000 (instead of --payload)")
	f.BoolVar(&o.corrupt.BadChecksum, "bad-checksum", false, "invert the TCP/UDP/ICMP checksum")
	f.BoolVar(&o.corrupt.BadIPChecksum, "bad-ip-checksum", false, "invert the IPv4 header checksum")
	f.IntVar(&o.corrupt.IPLength, "ip-length", 0, "write this IPv4 total length / IPv6 payload length, 1 to 65535")
	f.IntVar(&o.corrupt.UDPLength, "udp-length", 0, "write this UDP length, 1 to 65535")
	f.IntVar(&o.corrupt.TCPDataOffset, "data-offset", 0, "write this TCP data offset, 1 to 15 (32-bit words)")
	f.BoolVar(&o.corrupt.TruncateTCPOption, "truncate-option", false, "make the last TCP option run past the header")
	f.IntVarP(&o.count, "count", "c", 1, "frames to send, 1 to 1000000")
	f.DurationVarP(&o.interval, "interval", "i", time.Second, "time between frames, e.g. 100ms (0: as fast as the socket takes them)")
	f.BoolVar(&o.l3, "l3", false, "send through the node's routing on a raw IP socket")
	f.StringVar(&o.expect, "expect", "", "wait for the first incoming frame matching this tcpdump filter")
	f.DurationVar(&o.timeout, "timeout", 2*time.Second, "how long --expect waits, more than 0")
	f.BoolVar(&o.asJSON, "json", false, "print what was sent and received as JSON")
}

// sendResult is the --json output of pktlab send.
type sendResult struct {
	Sent   []string    `json:"sent"`
	Answer *answerJSON `json:"answer,omitempty"`
}

func runSend(ctx context.Context, w io.Writer, fs *pflag.FlagSet, labName, arg string, o *sendOpts) error {
	dst, err := o.validate(fs)
	if err != nil {
		return err
	}
	l, eps, err := openEndpoints(labName, []string{arg})
	if err != nil {
		return err
	}
	defer l.Release()
	ep := eps[0]
	spec, err := buildSpec(ep, dst, o)
	if err != nil {
		return err
	}
	var frame []byte
	if o.l3 {
		// From the IP header on: Ethernet would pad a short frame to 60 bytes, and a
		// raw IP socket sends every byte it is given (raw(7) sets the total length).
		frame, err = spec.Packet()
	} else {
		frame, err = spec.Frame()
	}
	if err != nil {
		return usageError("%v", err)
	}
	var answers *rawsock.Conn
	if o.expect != "" {
		prog, _ := compileFilter(o.expect, false) // validate compiled it
		if answers, err = rawsock.Open(ep.node, ep.iface, &rawsock.Config{Filter: prog}); err != nil {
			return err
		}
		defer answers.Close()
	}
	res, err := transmit(ctx, ep, dst, frame, o)
	if err != nil {
		return err
	}
	if answers != nil && ctx.Err() == nil {
		res.Answer, err = awaitAnswer(ctx, answers, ep, o.timeout)
	}
	if o.asJSON {
		if jerr := writeJSON(w, res); jerr != nil {
			return jerr
		}
	} else {
		for _, s := range res.Sent {
			fmt.Fprintf(w, "sent %s %s\n", ep, s)
		}
		if res.Answer != nil {
			fmt.Fprintf(w, "%s %s %s\n", res.Answer.Time.Format("15:04:05.000000"), ep, res.Answer.Frame.Summary)
		}
	}
	if se := interrupted(ctx); se != nil {
		return fmt.Errorf("%w after sending %d frame(s)", se, len(res.Sent))
	}
	if err != nil {
		return exitWith(exitFailure, err)
	}
	return nil
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// transmit sends frame count times: an Ethernet frame on a packet socket or, with
// --l3, an IP packet through a raw IP socket.
func transmit(ctx context.Context, ep endpoint, dst netip.Addr, frame []byte, o *sendOpts) (*sendResult, error) {
	res := &sendResult{}
	s := rawsock.NewSummarizer()
	var line []byte
	send := func() error { return nil }
	link, shown := layers.LinkTypeEthernet, frame
	if o.l3 {
		c, err := rawsock.OpenIP(ep.node, dst.Is6())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		link = layers.LinkTypeRaw
		send = func() error { return c.WritePacket(ctx, frame, dst) }
	} else {
		c, err := rawsock.Open(ep.node, ep.iface, &rawsock.Config{Protocol: 0x88b5}) // send only
		if err != nil {
			return nil, err
		}
		defer c.Close()
		send = func() error { return c.WriteFrame(ctx, frame) }
	}
	for i := 0; i < o.count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return res, nil
			case <-time.After(o.interval):
			}
		}
		if err := send(); err != nil {
			return res, err
		}
		// The same frame again mostly reads the same: keep one copy of the line.
		line = s.Append(line[:0], link, shown)
		if n := len(res.Sent); n == 0 || res.Sent[n-1] != string(line) {
			res.Sent = append(res.Sent, string(line))
		} else {
			res.Sent = append(res.Sent, res.Sent[n-1])
		}
	}
	return res, nil
}

// awaitAnswer returns the first incoming frame the socket's filter accepted.
// answerJSON is the frame that answered, in the frame shape of docs/json.md.
type answerJSON struct {
	Time  time.Time           `json:"time"`
	Frame *timeline.FrameJSON `json:"frame"`
}

func awaitAnswer(ctx context.Context, c *rawsock.Conn, ep endpoint, timeout time.Duration) (*answerJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	buf := make([]byte, 65536)
	for {
		f, err := c.ReadFrame(ctx, buf)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer on %s within %v", ep, timeout)
		}
		if err != nil {
			return nil, err
		}
		if f.Type == rawsock.PacketOutgoing {
			continue // our own frame, or another the node sent
		}
		d := rawsock.NewDecoder(layers.LinkTypeEthernet)
		derr := d.Decode(f.Data)
		summary := string(rawsock.NewSummarizer().AppendHeaders(nil, &d.Headers))
		data := append([]byte(nil), f.Data...)
		return &answerJSON{Time: f.Time, Frame: frameBody(d, derr, layers.LinkTypeEthernet, data, ep.String(), summary, f.Length)}, nil
	}
}

// buildSpec turns the flags into the packet to craft, Ethernet addresses included.
func buildSpec(ep endpoint, dst netip.Addr, o *sendOpts) (*rawsock.CraftSpec, error) {
	it, err := ep.node.Interface(ep.iface)
	if err != nil {
		return nil, err
	}
	src, err := pickSource(it.Addrs, dst, o.src)
	if err != nil {
		return nil, err
	}
	spec := &rawsock.CraftSpec{Src: src, Dst: dst, SrcMAC: it.MAC, TTL: o.ttl, TOS: o.tos, ID: o.id, DF: o.df,
		SPort: o.sport, DPort: o.dport, Seq: o.seq, Ack: o.ackNum, Window: o.win, Urgent: o.urgPtr,
		SYN: o.syn, ACK: o.ack, FIN: o.fin, RST: o.rst, PSH: o.psh, URG: o.urg, ECE: o.ece, CWR: o.cwr,
		ICMPType: o.icmpType, ICMPCode: o.icmpCode, ICMPID: o.icmpID, ICMPSeq: o.icmpSeq, MTU: o.mtu,
		Payload: []byte(o.payload), Corrupt: o.corrupt}
	if o.srcMAC != "" {
		if spec.SrcMAC, err = net.ParseMAC(o.srcMAC); err != nil {
			return nil, usageError("--src-mac: %v", err)
		}
	}
	if spec.DstMAC, err = pickDstMAC(ep, dst, o); err != nil {
		return nil, err
	}
	switch {
	case o.tcp:
		spec.Proto = layers.IPProtocolTCP
		if spec.TCPOptions, err = tcpOptions(o); err != nil {
			return nil, err
		}
	case o.udp:
		spec.Proto = layers.IPProtocolUDP
	}
	if o.data > 0 {
		spec.Payload = make([]byte, o.data)
	}
	return spec, nil
}

func pickSource(addrs []netip.Prefix, dst netip.Addr, flag string) (netip.Addr, error) {
	if flag != "" {
		return netip.ParseAddr(flag) // validate checked it
	}
	for _, p := range addrs {
		if p.Addr().Is4() == dst.Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, usageError("the interface has no address of %v's family: give --src", dst)
}

// pickDstMAC is --dst-mac, or the MAC the node's neighbour table holds for dst or, for
// an off-link dst, for any reachable neighbour on the interface (the gateway).
func pickDstMAC(ep endpoint, dst netip.Addr, o *sendOpts) (net.HardwareAddr, error) {
	if o.dstMAC != "" {
		m, err := net.ParseMAC(o.dstMAC)
		if err != nil {
			return nil, usageError("--dst-mac: %v", err)
		}
		return m, nil
	}
	if o.l3 {
		return net.HardwareAddr{0, 0, 0, 0, 0, 0}, nil // the kernel builds the link header
	}
	h, err := ep.node.Handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	it, _ := ep.node.Interface(ep.iface)
	family := netlink.FAMILY_V4
	if dst.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := h.NeighList(it.Index, family)
	if err != nil {
		return nil, err
	}
	var any net.HardwareAddr
	for _, n := range neighs {
		if len(n.HardwareAddr) != 6 || n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
			continue
		}
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == dst {
			return n.HardwareAddr, nil
		}
		if any == nil && !n.IP.IsLinkLocalUnicast() {
			any = n.HardwareAddr
		}
	}
	for _, p := range it.Addrs {
		if p.Contains(dst) {
			return nil, usageError("%s has no neighbour entry for %v: give --dst-mac, or send with --l3 so the kernel resolves it", ep, dst)
		}
	}
	if any != nil {
		return any, nil
	}
	return nil, usageError("%s has no neighbour entry towards %v: give --dst-mac, or send with --l3", ep, dst)
}

func tcpOptions(o *sendOpts) ([]layers.TCPOption, error) {
	set := rawsock.TCPOptionSet{MSS: o.mss, SACKOK: o.sackOK, WScale: o.wscale}
	if o.ts != "" {
		v, e, _ := strings.Cut(o.ts, ":")
		val, err1 := strconv.ParseUint(v, 10, 32)
		ecr, err2 := strconv.ParseUint(e, 10, 32)
		if err1 != nil || (e != "" && err2 != nil) {
			return nil, usageError("--ts %q: want VAL:ECR", o.ts)
		}
		set.HasTS, set.TS = true, [2]uint32{uint32(val), uint32(ecr)}
	}
	if o.sack != "" {
		for _, blk := range strings.Split(o.sack, ",") {
			l, r, ok := strings.Cut(blk, "-")
			lv, err1 := strconv.ParseUint(l, 10, 32)
			rv, err2 := strconv.ParseUint(r, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return nil, usageError("--sack %q: want LEFT-RIGHT[,LEFT-RIGHT...]", o.sack)
			}
			set.SACK = append(set.SACK, uint32(lv), uint32(rv))
		}
	}
	if o.tcpOpt != "" {
		k, h, _ := strings.Cut(o.tcpOpt, ":")
		kind, err1 := strconv.ParseUint(k, 10, 8)
		data, err2 := hex.DecodeString(h)
		if err1 != nil || err2 != nil {
			return nil, usageError("--tcp-option %q: want KIND:HEXDATA", o.tcpOpt)
		}
		set.Extra = append(set.Extra, rawsock.OptUnknown(uint8(kind), data))
	}
	return set.Options(), nil
}
