package main

import (
	"net/netip"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pktlab/pktlab/testlab"
)

// Bounds of pktlab send's numbers. --data is bounded as an experiment's craft size;
// -c more widely than craft's count (10000), for floods such as bench/capture.sh's,
// since a send keeps a line per frame sent (one string shared while they repeat).
const (
	maxSendCount = 1000000 // frames of one send (bench/capture.sh sends 300000 per sender)
	maxSendData  = 65000   // --data bytes: what fits an IP packet with its headers
)

// Flags that mean something for one transport only.
var (
	tcpOnlyFlags  = []string{"syn", "ack", "fin", "rst", "push", "urg", "ece", "cwr", "seq", "ack-num", "win", "urg-ptr", "mss", "wscale", "sackok", "ts", "sack", "tcp-option", "data-offset", "truncate-option"}
	portFlags     = []string{"sport", "dport"}
	udpOnlyFlags  = []string{"udp-length"}
	icmpOnlyFlags = []string{"icmp-type", "icmp-code", "icmp-id", "icmp-seq", "mtu"}
)

// sendAddrOK reports whether pktlab send may put a on the wire: lab ranges,
// loopback, and the link-scoped multicast and broadcast addresses that cannot leave
// the lab link. An experiment's craft step takes the same (plus unspecified sources).
func sendAddrOK(a netip.Addr) bool {
	a = a.Unmap()
	return testlab.InLabRange(a) || a.IsLoopback() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// validate checks every flag of pktlab send before anything is opened. It returns
// the destination.
func (o *sendOpts) validate(fs *pflag.FlagSet) (netip.Addr, error) {
	if o.dst == "" {
		return netip.Addr{}, usageError("send: --dst is required")
	}
	dst, err := netip.ParseAddr(o.dst)
	if err != nil {
		return netip.Addr{}, usageError("--dst %q: %v", o.dst, err)
	}
	if !sendAddrOK(dst) {
		return netip.Addr{}, usageError("--dst %v is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32 (loopback and link-local multicast go too)", dst)
	}
	if o.src != "" {
		src, err := netip.ParseAddr(o.src)
		if err != nil || src.Is4() != dst.Is4() {
			return netip.Addr{}, usageError("--src %q: want an address of the same family as --dst", o.src)
		}
		if !sendAddrOK(src) && !src.IsUnspecified() {
			return netip.Addr{}, usageError("--src %v is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32 (loopback and the unspecified address go too)", src)
		}
	}
	if n := boolCount(o.tcp, o.udp, o.icmp); n > 1 {
		return netip.Addr{}, usageError("send: choose one of --tcp, --udp, --icmp")
	}
	if err := o.checkTransportFlags(fs); err != nil {
		return netip.Addr{}, err
	}
	type bound struct {
		flag      string
		v, lo, hi int
		unset     int // the flag's "not given" value, always accepted
		want      string
	}
	for _, b := range []bound{
		{"-c", o.count, 1, maxSendCount, -1 << 62, "frames to send"},
		{"--data", o.data, 0, maxSendData, -1 << 62, "payload bytes"},
		// The option's one byte, as an experiment's craft step takes it: a shift over
		// 14 is legal on the wire (RFC 7323 §2.3: the receiver uses 14 and may log
		// it) and is what a test of that receiver sends, so nothing is clamped.
		{"--wscale", o.wscale, 0, 255, -1, "a shift count (the option's one byte)"},
		{"--icmp-type", o.icmpType, 0, 255, -1, "an ICMP type"},
		{"--ip-length", o.corrupt.IPLength, 1, 65535, 0, "an IPv4 total length / IPv6 payload length"},
		{"--udp-length", o.corrupt.UDPLength, 1, 65535, 0, "a UDP length"},
		{"--data-offset", o.corrupt.TCPDataOffset, 1, 15, 0, "a TCP data offset in 32-bit words (4 bits)"},
	} {
		if b.v != b.unset && (b.v < b.lo || b.v > b.hi) {
			return netip.Addr{}, usageError("%s %d: want %s, %d to %d", b.flag, b.v, b.want, b.lo, b.hi)
		}
	}
	if o.data > 0 && o.payload != "" {
		return netip.Addr{}, usageError("give --payload TEXT or --data BYTES, not both")
	}
	if o.interval < 0 {
		return netip.Addr{}, usageError("-i %v: want a time between frames of 0 or more, e.g. 100ms", o.interval)
	}
	if o.timeout <= 0 && o.expect != "" {
		return netip.Addr{}, usageError("--timeout %v: want how long --expect waits, e.g. 2s", o.timeout)
	}
	if o.timeout < 0 {
		return netip.Addr{}, usageError("--timeout %v: want a positive duration", o.timeout)
	}
	if o.l3 && dst.Is4() && (o.corrupt.BadIPChecksum || o.corrupt.IPLength != 0) {
		return netip.Addr{}, usageError("--bad-ip-checksum and --ip-length need a frame: with --l3 the kernel fills in the IPv4 total length and header checksum itself (raw(7)); drop --l3")
	}
	if o.tcp {
		if _, err := tcpOptions(o); err != nil {
			return netip.Addr{}, err
		}
	}
	if _, err := compileFilter(o.expect, false); err != nil {
		return netip.Addr{}, err
	}
	return dst, nil
}

// checkTransportFlags refuses flags of a transport the frame does not carry: they
// would be ignored without a word.
func (o *sendOpts) checkTransportFlags(fs *pflag.FlagSet) error {
	proto := "icmp"
	switch {
	case o.tcp:
		proto = "tcp"
	case o.udp:
		proto = "udp"
	}
	for _, g := range []struct {
		flags []string
		ok    bool
		need  string
	}{
		{tcpOnlyFlags, proto == "tcp", "--tcp"},
		{portFlags, proto != "icmp", "--tcp or --udp"},
		{udpOnlyFlags, proto == "udp", "--udp"},
		{icmpOnlyFlags, proto == "icmp", "ICMP (the default, or --icmp)"},
	} {
		if g.ok {
			continue
		}
		var given []string
		for _, f := range g.flags {
			if fs.Changed(f) {
				given = append(given, "--"+f)
			}
		}
		if len(given) > 0 {
			return usageError("%s: only with %s; this frame is %s", strings.Join(given, ", "), g.need, strings.ToUpper(proto))
		}
	}
	return nil
}
