//go:build linux

package rawsock_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/testlab"
)

var corpus = flag.Bool("corpus", false, "capture testdata/corpus.pcap and testdata/corpus.pcapng again in a lab")

const crsLab = `
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24, 2001:db8:1::2/64]
    routes: [default via 198.18.1.1, default via 2001:db8:1::1]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24, 2001:db8:1::1/64]
      eth1: {addresses: [198.19.2.1/24, 2001:db8:2::1/64], mtu: 1280}
  server:
    interfaces:
      eth0: {addresses: [198.19.2.2/24, 2001:db8:2::2/64], mtu: 1280}
    routes: [default via 198.19.2.1, default via 2001:db8:2::1]
links:
  - [client:eth0, router:eth0]
  - {endpoints: [router:eth1, server:eth0], mtu: 1280}
`

var (
	server4 = netip.MustParseAddr("198.19.2.2")
	server6 = netip.MustParseAddr("2001:db8:2::2")
	client4 = netip.MustParseAddr("198.18.1.2")
	client6 = netip.MustParseAddr("2001:db8:1::2")
)

// TestMakeCorpus captures the conformance corpus: kernel traffic of every kind the
// summaries cover (ARP, ICMP, ICMPv6 and neighbour discovery, TCP handshake, data,
// close and RST, UDP, IPv4 and IPv6 fragments, frag-needed, time exceeded) and
// crafted frames (every TCP flag and option, IPv4 options, IPv6 extension headers,
// broken headers), seen on client:eth0 and server:eth0. Run with -corpus to rewrite
// the files under testdata/.
func TestMakeCorpus(t *testing.T) {
	if !*corpus {
		// Not recapturing: check instead that the committed corpus still covers
		// every form the summaries print (CI counts a skip as a failure).
		checkCoverage(t)
		return
	}
	lab := labtest.Start(t, crsLab)
	conns := []*rawsock.Conn{open(t, lab, "client", "eth0", nil), open(t, lab, "server", "eth0", nil),
		open(t, lab, "client", "eth0", &rawsock.Config{Cooked: true})}
	ctx, cancel := context.WithCancel(context.Background())
	cif, err := lab.Node("client").Interface("eth0")
	must(t, err)
	rec := &recorder{more: make(chan struct{}, 1), mac: cif.MAC}
	done := make(chan error)
	go func() { done <- rawsock.Capture(ctx, conns, rec.add) }()
	kernelTraffic(t, lab, rec)
	craftedTraffic(t, lab, rec)
	// A last ping through the router is a fence: once the server has seen its request
	// and both client sockets its reply, everything sent before it is captured.
	ping(t, lab.Node("client"), server4, 99)
	rec.await(t, "the last echo request on server:eth0", 1, isEchoFrom(layers.ICMPv4TypeEchoRequest, 99))
	for _, src := range []int{0, 2} {
		rec.await(t, "the last echo reply on client:eth0", src, isEchoFrom(layers.ICMPv4TypeEchoReply, 99))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	frames := rec.frames
	writeCorpus(t, "testdata/corpus.pcap", frames, false)
	writeCorpus(t, "testdata/corpus.pcapng", frames, true)
	writeCooked(t, "testdata/corpus-cooked.pcap", frames)
}

// recorder keeps the frames of a capture and lets the traffic wait for the frames it
// caused, so that each exchange is on the wire before the next starts.
type recorder struct {
	mu     sync.Mutex
	frames []rawsock.Captured
	more   chan struct{}    // receives a value when frames grows
	next   [3]int           // per socket, the frame after the last one awaited
	mac    net.HardwareAddr // client:eth0's
}

func (r *recorder) add(c rawsock.Captured) error {
	c.Frame.Data = append([]byte(nil), c.Frame.Data...)
	r.mu.Lock()
	r.frames = append(r.frames, c)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
	return nil
}

// await waits until a frame from socket src decodes and satisfies match (the decoder
// holds the frame), failing the test after labtest.FailAfter.
func (r *recorder) await(t *testing.T, what string, src int, match func(d *rawsock.Decoder) bool) {
	t.Helper()
	r.awaitFrame(t, what, src, func(_ []byte, d *rawsock.Decoder) bool { return d != nil && match(d) })
}

// awaitFrame is await for matches on the bytes too: d is nil for a frame that does
// not decode (a crafted broken header). Each wait looks only at frames after the one
// the last wait on src found, as the traffic happens in order.
func (r *recorder) awaitFrame(t *testing.T, what string, src int, match func(b []byte, d *rawsock.Decoder) bool) {
	t.Helper()
	link := layers.LinkTypeEthernet
	if src == 2 {
		link = layers.LinkTypeRaw // a cooked socket reads the packet without a link header
	}
	d := rawsock.NewDecoder(link)
	limit := time.NewTimer(labtest.FailAfter)
	defer limit.Stop()
	for i := r.next[src]; ; {
		r.mu.Lock()
		fresh := r.frames[i:]
		r.mu.Unlock()
		for _, c := range fresh {
			i++
			if c.Source != src {
				continue
			}
			dd := d
			if d.Decode(c.Frame.Data) != nil {
				dd = nil
			}
			if match(c.Frame.Data, dd) {
				r.next[src] = i
				return
			}
		}
		select {
		case <-r.more:
		case <-limit.C:
			t.Fatalf("corpus: no %s captured after %v", what, labtest.FailAfter)
		}
	}
}

// isEchoFrom matches ping's ICMPv4 echo message of the given type and sequence.
func isEchoFrom(typ uint8, seq uint16) func(d *rawsock.Decoder) bool {
	return func(d *rawsock.Decoder) bool {
		return d.Has(layers.LayerTypeICMPv4) && uint8(d.ICMPv4().Type()) == typ && d.ICMPv4().Seq() == seq
	}
}

// isEcho6Reply matches an ICMPv6 echo reply.
func isEcho6Reply(d *rawsock.Decoder) bool {
	return d.Has(layers.LayerTypeICMPv6) && d.ICMPv6().Type() == header.ICMPv6EchoReply
}

// isTCP matches a TCP segment on port 5001 from the given side with exactly flags
// and the given payload length.
func isTCP(fromClient bool, flags string, n int) func(d *rawsock.Decoder) bool {
	return func(d *rawsock.Decoder) bool {
		if !d.Has(layers.LayerTypeTCP) || (d.TCP().DstPort() == 5001) != fromClient || (d.TCP().SrcPort() == 5001) == fromClient {
			return false
		}
		got := d.TCP().Flags() & (header.TCPFlagSYN | header.TCPFlagFIN | header.TCPFlagRST | header.TCPFlagPSH | header.TCPFlagACK)
		return got.String() == flags && len(d.TCP().Payload()) == n
	}
}

// writeCooked writes what the cooked socket on client:eth0 saw, as LINUX_SLL.
func writeCooked(t *testing.T, path string, frames []rawsock.Captured) {
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	w, err := rawsock.NewPcapWriter(f, []rawsock.FileInterface{{Name: "client:eth0", Cooked: true}})
	must(t, err)
	for _, c := range frames {
		if c.Source == 2 {
			must(t, w.WriteFrame(0, &c.Frame))
		}
	}
	must(t, w.Flush())
}

// corpusMust lists a fragment of a tcpdump line for every form the corpus covers.
var corpusMust = []string{
	"ARP, Request who-has", "ARP, Reply", "ICMP echo request", "ICMP echo reply", "ICMP6, echo request",
	"neighbor solicitation", "neighbor advertisement", "multicast listener report v2", "HBH ICMP6",
	"Flags [S], seq", "Flags [S.]", "Flags [P.], seq 1:", "Flags [F.]", "Flags [R.]", "Flags [SEW]",
	"Flags [FSRP.UEW]", "urg 3", "sack 2 {", ",eol]", "unknown-99 0x01020304", "[bad opt]",
	"[bad hdr length 60 - too long, > 20]", "UDP, length", "udp port 5004 unreachable",
	"unreachable port, 2001:db8:2::2 udp port 5004", "ip-proto-17", "frag (0|1448)", "frag (1448|1448)",
	"need to frag (mtu 1280)", "packet too big, mtu 1280", "ICMP time exceeded in-transit",
	"ICMP6, time exceeded in-transit", "IP6 2001:db8:1::2.40000 > 2001:db8:2::2.5005: Flags [S]",
}

// checkCoverage asserts that each corpus file's golden summaries hold every form.
func checkCoverage(t *testing.T) {
	for _, path := range []string{"testdata/corpus.pcapng.golden", "testdata/corpus.pcap.golden", "testdata/corpus-cooked.pcap.golden"} {
		b, err := os.ReadFile(path)
		must(t, err)
		for _, m := range corpusMust {
			if !strings.Contains(string(b), m) {
				t.Errorf("%s has no line with %q: recapture with -corpus", path, m)
			}
		}
	}
}

func writeCorpus(t *testing.T, path string, frames []rawsock.Captured, ng bool) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ifaces := []rawsock.FileInterface{{Name: "client:eth0"}, {Name: "server:eth0"}}
	newW := rawsock.NewPcapWriter
	if ng {
		newW = rawsock.NewPcapngWriter
	}
	w, err := newW(f, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range frames {
		if c.Source == 2 || !ng && c.Source != 0 {
			continue // the classic file holds client:eth0 only; cooked frames go apart
		}
		if err := w.WriteFrame(c.Source, &c.Frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// kernelTraffic makes the Linux stacks in the lab talk.
func kernelTraffic(t *testing.T, lab *testlab.Lab, rec *recorder) {
	client, server := lab.Node("client"), lab.Node("server")
	ping(t, client, server4, 1)
	rec.await(t, "the echo reply", 0, isEchoFrom(layers.ICMPv4TypeEchoReply, 1))
	ping(t, client, server6, 1)
	rec.await(t, "the ICMPv6 echo reply", 0, isEcho6Reply)
	// TCP: handshake, data both ways, close; then a SYN to a closed port (RST).
	var ln net.Listener
	must(t, server.Do(func() (err error) { ln, err = net.Listen("tcp", "198.19.2.2:5001"); return err }))
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 100)
		n, _ := c.Read(buf)
		c.Write(append([]byte("ok "), buf[:n]...))
		io.Copy(io.Discard, c)
		c.Close()
	}()
	var c net.Conn
	must(t, client.Do(func() (err error) { c, err = net.Dial("tcp", "198.19.2.2:5001"); return err }))
	c.Write([]byte("hello pktlab\n"))
	c.Read(make([]byte, 100))
	// The client acknowledges the answer on its own before it closes, and the close
	// ends with its acknowledgement of the server's FIN.
	rec.await(t, "the server's answer", 0, isTCP(false, "P.", len("ok hello pktlab\n")))
	rec.await(t, "the client's ACK of the answer", 0, isTCP(true, ".", 0))
	c.Close()
	rec.await(t, "the server's FIN", 0, isTCP(false, "F.", 0))
	ln.Close()
	client.Do(func() error { _, err := net.DialTimeout("tcp", "198.19.2.2:5002", time.Second); _ = err; return nil })
	// UDP to a listener and to a closed port, v4 and v6; big datagrams fragment.
	var u4, u6 net.PacketConn
	must(t, server.Do(func() (err error) { u4, err = net.ListenPacket("udp", "198.19.2.2:5003"); return err }))
	must(t, server.Do(func() (err error) { u6, err = net.ListenPacket("udp", "[2001:db8:2::2]:5003"); return err }))
	defer u4.Close()
	defer u6.Close()
	for _, dst := range []string{"198.19.2.2:5003", "198.19.2.2:5004", "[2001:db8:2::2]:5003", "[2001:db8:2::2]:5004"} {
		sendUDP(t, rec, client, dst, 10, nil)
	}
	sendUDP(t, rec, client, "198.19.2.2:5003", 3000, nil)
	sendUDP(t, rec, client, "[2001:db8:2::2]:5003", 3000, nil)
	// DF too big for the 1280-byte hop: frag needed / packet too big from the router.
	sendUDP(t, rec, client, "198.19.2.2:5003", 1400, func(fd int) {
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	})
	sendUDP(t, rec, client, "[2001:db8:2::2]:5003", 1400, func(fd int) {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	})
	// TTL 1: time exceeded from the router.
	sendUDP(t, rec, client, "198.19.2.2:5003", 10, func(fd int) { unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 1) })
	sendUDP(t, rec, client, "[2001:db8:2::2]:5003", 10, func(fd int) {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 1)
	})
}

// sendUDP sends one datagram of n bytes from node to dst, after ctl on its socket,
// and waits until client:eth0 has seen it leave.
func sendUDP(t *testing.T, rec *recorder, node *testlab.Node, dst string, n int, ctl func(fd int)) {
	t.Helper()
	must(t, node.Do(func() error {
		c, err := net.Dial("udp", dst)
		if err != nil {
			return err
		}
		defer c.Close()
		if ctl != nil {
			rc, _ := c.(syscall.Conn).SyscallConn()
			rc.Control(func(fd uintptr) { ctl(int(fd)) })
		}
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte('a' + i%26)
		}
		c.Write(payload)
		return nil
	}))
	// The datagram (or its first fragment) leaving the client, not an ICMPv6 error
	// quoting an earlier one.
	rec.awaitFrame(t, "the datagram to "+dst, 0, func(b []byte, _ *rawsock.Decoder) bool {
		return len(b) > 12 && bytes.Equal(b[6:12], rec.mac) && bytes.Contains(b, []byte("abcdefghij")[:min(n, 10)])
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// craftedTraffic sends hand-built frames from client:eth0 to the router.
func craftedTraffic(t *testing.T, lab *testlab.Lab, rec *recorder) {
	c := open(t, lab, "client", "eth0", nil)
	rif, err := lab.Node("router").Interface("eth0")
	must(t, err)
	cif, err := lab.Node("client").Interface("eth0")
	must(t, err)
	for _, fr := range craftedFrames(cif.MAC, rif.MAC) {
		b, err := rawsock.Serialize(fr.c, fr.ls...)
		if err != nil {
			t.Fatalf("%s: %v", fr.name, err)
		}
		must(t, c.WriteFrame(context.Background(), b))
		rec.awaitFrame(t, fr.name, 0, func(got []byte, _ *rawsock.Decoder) bool { return bytes.Equal(got, b) })
	}
}

type craftedFrame struct {
	name string
	c    *rawsock.Corruption
	ls   []gopacket.SerializableLayer
}

// craftedFrames is every crafted case of the corpus.
func craftedFrames(src, dst net.HardwareAddr) []craftedFrame {
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
	}
	ip4 := func(p layers.IPProtocol, opts ...layers.IPv4Option) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: client4.AsSlice(), DstIP: server4.AsSlice(), Options: opts, Flags: layers.IPv4DontFragment, Id: 4242}
	}
	ip6 := func(p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: client6.AsSlice(), DstIP: server6.AsSlice()}
	}
	tcp := func(flags string, opts ...layers.TCPOption) *layers.TCP {
		h := &layers.TCP{SrcPort: 40000, DstPort: 5005, Seq: 1000, Ack: 0, Window: 64240, Options: opts}
		for _, f := range flags {
			switch f {
			case 'S':
				h.SYN = true
			case 'A':
				h.ACK, h.Ack = true, 2000
			case 'F':
				h.FIN = true
			case 'R':
				h.RST = true
			case 'P':
				h.PSH = true
			case 'U':
				h.URG, h.Urgent = true, 3
			case 'E':
				h.ECE = true
			case 'W':
				h.CWR = true
			}
		}
		return h
	}
	payload := gopacket.Payload("pktlab!")
	hbh := ip6(layers.IPProtocolICMPv6)
	hbh.HopByHop = rawsock.HopByHopRouterAlert(0, layers.IPProtocolICMPv6)
	icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	frag6 := ip6(layers.IPProtocolIPv6Fragment)
	return []craftedFrame{
		{"syn with linux options", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("S", rawsock.OptMSS(1460), rawsock.OptSACKPermitted(), rawsock.OptTimestamps(1, 0), rawsock.OptNOP(), rawsock.OptWScale(7))}},
		{"ecn syn", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("SEW", rawsock.OptMSS(1360))}},
		{"every flag", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("SAFRPUEW"), payload}},
		{"sack and eol", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("A", rawsock.OptNOP(), rawsock.OptNOP(), rawsock.OptSACK(3000, 4000, 5000, 6000), rawsock.OptEOL())}},
		{"unknown option", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("PA", rawsock.OptUnknown(99, []byte{1, 2, 3, 4})), payload}},
		{"urgent", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("PAU"), payload}},
		{"ip options", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP, rawsock.IPOptRouterAlert()), &layers.UDP{SrcPort: 40001, DstPort: 5003}, payload}},
		{"bad tcp checksum", &rawsock.Corruption{BadChecksum: true}, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("S")}},
		{"bad data offset", &rawsock.Corruption{TCPDataOffset: 15}, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("S")}},
		{"truncated option", &rawsock.Corruption{TruncateTCPOption: true}, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp("S", rawsock.OptMSS(1460))}},
		{"ipv6 hop-by-hop echo", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), hbh, icmp6, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, payload}},
		{"ipv6 fragment", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), frag6, &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 0, MoreFragments: true, Identification: 77}, &layers.UDP{SrcPort: 40002, DstPort: 5003, Length: 1008}, gopacket.Payload(make([]byte, 16))}},
		{"ipv6 tcp syn", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcp("S", rawsock.OptMSS(1440), rawsock.OptSACKPermitted(), rawsock.OptTimestamps(7, 0), rawsock.OptNOP(), rawsock.OptWScale(7))}},
		{"frag needed", nil, []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), rawsock.ICMPFragNeeded(1280), gopacket.Payload(quoted())}},
	}
}

// quoted is the start of an IPv4/UDP packet, as an ICMP error quotes it.
func quoted() []byte {
	b, _ := rawsock.Serialize(nil,
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: server4.AsSlice(), DstIP: client4.AsSlice(), Flags: layers.IPv4DontFragment},
		&layers.UDP{SrcPort: 5003, DstPort: 40001}, gopacket.Payload(make([]byte, 1372)))
	return b[:28]
}
