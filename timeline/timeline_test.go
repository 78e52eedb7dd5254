package timeline

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pktlab/pktlab/internal/jsonschema"
	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
)

var (
	macC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macS = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	ipC  = net.IP{198, 18, 1, 2}
	ipS  = net.IP{198, 18, 1, 1}
)

// tcpFrame builds an Ethernet/IPv4/TCP frame.
func tcpFrame(t *testing.T, fromClient bool, seq, ack uint32, flags string, payload int, opts ...layers.TCPOption) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: macC, DstMAC: macS, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: ipC, DstIP: ipS, Flags: layers.IPv4DontFragment}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: ack, Window: 64240, Options: opts}
	if !fromClient {
		eth.SrcMAC, eth.DstMAC = macS, macC
		ip.SrcIP, ip.DstIP = ipS, ipC
		tcp.SrcPort, tcp.DstPort = 80, 40000
	}
	tcp.SYN = strings.Contains(flags, "S")
	tcp.ACK = strings.Contains(flags, ".")
	tcp.FIN = strings.Contains(flags, "F")
	tcp.RST = strings.Contains(flags, "R")
	tcp.PSH = strings.Contains(flags, "P")
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(make([]byte, payload)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// capture feeds a timeline as experiment's capture does: each frame with the tcpdump
// line rawsock's Summarizer prints for it on its interface.
type capture struct {
	tl   *Timeline
	sums map[int]*rawsock.Summarizer
}

func newCapture(start time.Time, eps []Endpoint) *capture {
	return &capture{tl: New(start, eps), sums: map[int]*rawsock.Summarizer{}}
}

func (c *capture) add(at time.Time, idx int, data []byte, out bool) *Frame {
	s := c.sums[idx]
	if s == nil {
		s = rawsock.NewSummarizer()
		c.sums[idx] = s
	}
	line := s.Append(nil, layers.LinkTypeEthernet, data)
	return c.tl.AddFrame(Captured{Time: at, Index: idx, Data: data, Out: out, Line: line})
}

func handshake(t *testing.T) *Timeline {
	start := time.Unix(1000, 0)
	c := newCapture(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
	tl := c.tl
	mss := layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
	sack := layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}
	frames := []struct {
		at     time.Duration
		idx    int
		out    bool
		client bool
		seq    uint32
		ack    uint32
		flags  string
		pay    int
	}{
		{100 * time.Microsecond, 1, false, true, 1000, 0, "S", 0}, // the receiver's copy first
		{110 * time.Microsecond, 0, true, true, 1000, 0, "S", 0},  // same frame, sender's end
		{200 * time.Microsecond, 1, true, false, 5000, 1001, "S.", 0},
		{210 * time.Microsecond, 0, false, false, 5000, 1001, "S.", 0},
		{300 * time.Microsecond, 0, true, true, 1001, 5001, ".", 0},
		{310 * time.Microsecond, 1, false, true, 1001, 5001, ".", 0},
		{400 * time.Microsecond, 0, true, true, 1001, 5001, "P.", 5},
		{410 * time.Microsecond, 1, false, true, 1001, 5001, "P.", 5},
	}
	for _, f := range frames {
		var opts []layers.TCPOption
		if strings.Contains(f.flags, "S") {
			opts = []layers.TCPOption{mss, sack}
		}
		c.add(start.Add(f.at), f.idx, tcpFrame(t, f.client, f.seq, f.ack, f.flags, f.pay, opts...), f.out)
	}
	tl.AddCall(Call{Start: start.Add(50 * time.Microsecond), Dur: 300 * time.Microsecond, Node: "client", Sock: "c", Op: "connect", Args: "198.18.1.1:80"})
	tl.Add(start.Add(350*time.Microsecond), "client", &KernelState{Local: netip.MustParseAddrPort("198.18.1.2:40000"),
		Remote: netip.MustParseAddrPort("198.18.1.1:80"), From: "SYN_SENT", To: "ESTABLISHED", Source: "sock_diag"})
	return tl
}

func TestTextRelativeAndDedup(t *testing.T) {
	tl := handshake(t)
	var b bytes.Buffer
	if err := tl.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `   0.000110 [f1] client:eth0 > server:eth0   IP 198.18.1.2.40000 > 198.18.1.1.80: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,eol], length 0 [relative seq 0]
   0.000200 [f1] server:eth0 > client:eth0   IP 198.18.1.1.80 > 198.18.1.2.40000: Flags [S.], seq 5000, ack 1001, win 64240, options [mss 1460,sackOK,eol], length 0 [relative seq 0 ack 1]
   0.000300 [f1] client:eth0 > server:eth0   IP 198.18.1.2.40000 > 198.18.1.1.80: Flags [.], ack 1, win 64240, length 0
   0.000350  ==  client c connect(198.18.1.1:80) = 0
   0.000350  ::  client 198.18.1.2:40000 > 198.18.1.1:80: SYN_SENT → ESTABLISHED (sock_diag)
   0.000400 [f1] client:eth0 > server:eth0   IP 198.18.1.2.40000 > 198.18.1.1.80: Flags [P.], seq 1:6, ack 1, win 64240, length 5
flows:
  [f1] tcp 198.18.1.2:40000 > 198.18.1.1:80, 4 frame(s), seen on client:eth0 server:eth0
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	fr := tl.Frames()
	if !fr[0].Frame().Dup || fr[1].Frame().Dup {
		t.Errorf("dup flags: %v %v, want the far-end copy marked", fr[0].Frame().Dup, fr[1].Frame().Dup)
	}
}

func TestJSONLines(t *testing.T) {
	tl := handshake(t)
	var b bytes.Buffer
	if err := tl.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d JSON lines, want 10:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[2], `"flags":"S.","seq":5000,"ack":1001,"flow":1,"rel_seq":0,"rel_ack":1`) {
		t.Errorf("SYN-ACK line lacks relative seq/ack: %s", lines[2])
	}
	if !strings.Contains(lines[6], `"op":"connect"`) {
		t.Errorf("call line: %s", lines[6])
	}
}

func TestPcapngInterfacesAndComments(t *testing.T) {
	tl := handshake(t)
	var b bytes.Buffer
	if err := tl.WritePcapng(&b); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var ifaces []int
	var comments []string
	for {
		_, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		ifaces = append(ifaces, ci.InterfaceIndex)
		comments = append(comments, strings.Join(opts.Comments, " | "))
	}
	if diff := cmp.Diff([]int{1, 0, 1, 0, 0, 1, 0, 1}, ifaces); diff != "" {
		t.Errorf("interface ids (-want +got):\n%s", diff)
	}
	if r.NInterfaces() != 2 {
		t.Fatalf("%d interfaces, want 2", r.NInterfaces())
	}
	if in, _ := r.Interface(1); in.Name != "server:eth0" {
		t.Errorf("interface 1 name %q, want server:eth0", in.Name)
	}
	// A SYN's acknowledgment field means nothing (its sender leaves whatever there):
	// its comment gives no ack; the SYN-ACK's does, relative to the SYN.
	if comments[0] != "pktlab: flow 1, relative seq 0" || comments[1] != "pktlab: flow 1, relative seq 0" {
		t.Errorf("SYN comments %q, %q; want relative seq 0 and no ack", comments[0], comments[1])
	}
	if comments[2] != "pktlab: flow 1, relative seq 0 ack 1" {
		t.Errorf("SYN-ACK comment %q", comments[2])
	}
	// The connect returned after the ACK (frame 4, the sender's copy) and before the
	// data: the ACK's comment tells it.
	if !strings.Contains(comments[4], "then: call client c connect(198.18.1.1:80) = 0") || !strings.Contains(comments[4], "SYN_SENT → ESTABLISHED") {
		t.Errorf("comment on the frame before the connect returned: %q", comments[4])
	}
	tshark(t, data)
}

// tshark checks that Wireshark's reader shows the interface names and comments; it is
// required under CI=true.
func tshark(t *testing.T, data []byte) {
	path, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not installed (CI needs the tshark package)")
		}
		t.Log("tshark not installed; skipping the Wireshark check")
		return
	}
	f := t.TempDir() + "/run.pcapng"
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "-r", f, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"client:eth0", "server:eth0", "connect(198.18.1.1:80) = 0", "relative seq 1 ack 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("tshark output lacks %q:\n%s", want, s)
		}
	}
}

// TestNATRewriteMarked: the same SYN entering a router on eth0 and leaving on eth1 with
// another source address and port is annotated as a NAT rewrite, whichever copy the
// timeline receives first.
func TestNATRewriteMarked(t *testing.T) {
	syn := func(src net.IP, sport uint16) []byte {
		eth := &layers.Ethernet{SrcMAC: macC, DstMAC: macS, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: 4242, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: net.IP{198, 19, 2, 2}}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 80, Seq: 777, SYN: true, Window: 1000}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	in, out := syn(net.IP{198, 18, 1, 2}, 40000), syn(net.IP{198, 19, 2, 1}, 61000)
	for _, tc := range []struct {
		outFirst bool
		late     time.Duration // how much later the second copy is stamped
	}{{false, time.Millisecond}, {true, time.Millisecond}, {false, 80 * time.Millisecond}, {true, 80 * time.Millisecond}} {
		start := time.Unix(1000, 0)
		c := newCapture(start, []Endpoint{{"router", "eth0", -1}, {"router", "eth1", -1}})
		tl := c.tl
		first, second := func() { c.add(start.Add(time.Millisecond), 0, in, false) }, func() { c.add(start.Add(time.Millisecond+tc.late), 1, out, true) }
		if tc.outFirst {
			first, second = func() { c.add(start.Add(time.Millisecond), 1, out, true) }, func() { c.add(start.Add(time.Millisecond+tc.late), 0, in, false) }
		}
		first()
		tl.Note(start.Add(70*time.Millisecond), "router", "something between")
		second()
		var got string
		for _, e := range tl.Frames() {
			if f := e.Frame(); f.Index == 1 && f.NAT != nil {
				got = tl.NATText(f.NAT)
			}
		}
		if want := "198.18.1.2:40000 > 198.19.2.2:80 on router:eth0"; got != want {
			t.Errorf("outgoing copy first %v, second copy %v later: NAT = %q, want %q", tc.outFirst, tc.late, got, want)
		}
	}
}

// TestNATTableBounded: copies of packets a node never forwarded are forgotten beyond
// maxUnpaired, so the table cannot grow without bound.
func TestNATTableBounded(t *testing.T) {
	start := time.Unix(1000, 0)
	tl := New(start, []Endpoint{{"router", "eth0", -1}, {"router", "eth1", -1}})
	for i := 0; i < maxUnpaired+100; i++ {
		f := &Frame{Index: 0, Packet: Packet{Proto: "udp", Src: netip.MustParseAddr("198.18.1.2"), Dst: netip.MustParseAddr("198.19.2.2"), IPID: i, SPort: 5000, DPort: 53}}
		tl.matchNAT(start.Add(time.Duration(i)), 0, f)
	}
	n := 0
	for _, l := range tl.nats.waiting {
		n += len(l)
	}
	if n > maxUnpaired || len(tl.nats.order) > 2*maxUnpaired {
		t.Errorf("%d waiting, order %d: want at most %d and %d", n, len(tl.nats.order), maxUnpaired, 2*maxUnpaired)
	}
	// Datagrams alike in all the key holds (ID 0, one length): a short list each, so
	// that matching one stays cheap.
	for i := 0; i < 1000; i++ {
		f := &Frame{Index: 0, Packet: Packet{Proto: "udp", Src: netip.MustParseAddr("198.18.1.3"), Dst: netip.MustParseAddr("198.19.2.2"), SPort: 5000, DPort: 53}}
		tl.matchNAT(start, 0, f)
	}
	for k, l := range tl.nats.waiting {
		if len(l) > maxAlike {
			t.Errorf("%d copies wait under %+v, want at most %d", len(l), k, maxAlike)
		}
	}
}

// TestJSONMatchesSchema writes a timeline with a record of every kind and holds each
// line to the schema of docs/json.md; and every kind has its section there.
func TestJSONMatchesSchema(t *testing.T) {
	s, err := jsonschema.Load("../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	tl := handshake(t)
	at := tl.Start.Add(time.Millisecond)
	a, b := netip.MustParseAddrPort("198.18.1.2:40000"), netip.MustParseAddrPort("198.18.1.1:80")
	pkt := &KernelPacket{Src: a.Addr(), Dst: b.Addr(), Proto: 6, Length: 40, SrcPort: 40000, DstPort: 80, Flags: header.TCPFlagRST}
	for _, d := range []Data{
		&UserspaceState{Local: a, From: tcpstate.Listen, To: tcpstate.SynReceived, Cause: "SYN"},
		&Verdict{ID: 7, Type: TraceRule, Family: "inet", Table: "t", Chain: "c", Hook: "input", RuleHandle: 3, Rule: "tcp dport 80 drop", Verdict: "drop"},
		&Conntrack{Type: "new", Proto: 6, Orig: Tuple{a.Addr(), b.Addr(), 40000, 80}, Reply: Tuple{b.Addr(), a.Addr(), 80, 40000}, State: "SYN_SENT", Timeout: time.Minute},
		&Step{Action: "connect", Text: "client: connect c"},
		&Note{Text: "a note"},
		&Outcome{Pass: false, Pos: "f.yaml:1:2", Want: "x", Seen: "y"},
		&Retransmit{Local: a, Remote: b, State: "SYN_SENT", Seq: 1, EndSeq: 2, Flags: header.TCPFlagSYN, CA: "Loss"},
		&Reset{Sent: true, Local: b, Remote: a, Reason: "NO_SOCKET", Packet: pkt},
		&Drop{Reason: "NO_SOCKET", ReasonCode: 2, Location: 0xffff, Packet: pkt},
		&CongestionSample{Local: a, Remote: b, CA: "Open", SndCwnd: 10, SRTT: time.Millisecond},
	} {
		tl.Add(at, "client", d)
	}
	var out bytes.Buffer
	if err := tl.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.ValidateLines(out.Bytes()) {
		t.Error(err)
	}
	for k := KindFrame; k <= KindCongestion; k++ {
		if _, ok := s.Types[k.String()]; !ok {
			t.Errorf("docs/json.md has no section for %s records", k)
		}
	}
	// The validator is not one that passes everything.
	for _, bad := range []string{`{"v":1,"type":"note","note":{"text":"x","extra":1}}`, `{"v":2,"type":"note","note":{}}`,
		`{"v":1,"type":"frame","frame":{"length":"60","summary":""}}`, `{"v":1,"type":"nosuch","nosuch":{}}`, `{"v":1,"type":"note"}`} {
		if s.Validate([]byte(bad)) == nil {
			t.Errorf("%s passes the schema", bad)
		}
	}
}

// TestPairingIgnoresOrderAndDelay feeds the two copies of a handshake on one link the
// way a late ring block does (issue 13: once in four runs of G1 every handshake frame
// appeared twice, 35 ms after connect() = 0): all of one end's copies first, then the
// other end's, stamped 35 ms later, with other events between. Each frame must be
// shown once and counted once, whichever end comes first.
func TestPairingIgnoresOrderAndDelay(t *testing.T) {
	for _, tc := range []struct {
		name       string
		senderLate bool
	}{{"receiver copies late", false}, {"sender copies late", true}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			c := newCapture(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
			// The client sends the SYN and the ACK, the server the SYN-ACK: each
			// frame's sender copy is on its sender's interface.
			frames := []struct {
				client      bool
				seq, ack    uint32
				flags       string
				senderIndex int
			}{{true, 1000, 0, "S", 0}, {false, 5000, 1001, "S.", 1}, {true, 1001, 5001, ".", 0}}
			copyOf := func(i int, sender bool) {
				f := frames[i]
				idx, at := f.senderIndex, time.Duration(i)*100*time.Microsecond
				if !sender {
					idx = 1 - idx
					at += 10 * time.Microsecond
				}
				if sender == tc.senderLate {
					at += 35 * time.Millisecond
				}
				c.add(start.Add(at), idx, tcpFrame(t, f.client, f.seq, f.ack, f.flags, 0), sender)
			}
			for i := range frames {
				copyOf(i, !tc.senderLate)
			}
			c.tl.AddCall(Call{Start: start, Dur: 25 * time.Millisecond, Node: "client", Sock: "c", Op: "connect", Args: "198.18.1.1:80"})
			c.tl.Note(start.Add(30*time.Millisecond), "", "something between")
			for i := range frames {
				copyOf(i, tc.senderLate)
			}
			var b bytes.Buffer
			if err := c.tl.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			text := b.String()
			if n := strings.Count(text, "[f1]"); n != 3+1 { // three frames and the flow index
				t.Errorf("%d lines tagged [f1], want 3 frames and the index:\n%s", n, text)
			}
			if !strings.Contains(text, "3 frame(s)") {
				t.Errorf("flow index does not count 3 frames:\n%s", text)
			}
			for _, e := range c.tl.Frames() {
				if f := e.Frame(); f.Dup == f.Out {
					t.Errorf("frame on %s out=%v dup=%v: the receiver's copy must be the duplicate", c.tl.Endpoints[f.Index], f.Out, f.Dup)
				}
			}
		})
	}
}

// TestPairingFirstWithFirst: a frame sent twice with the same bytes (a retransmission)
// pairs its copies first with first, with the second sender copy arriving before the
// first receiver copy.
func TestPairingFirstWithFirst(t *testing.T) {
	start := time.Unix(1000, 0)
	c := newCapture(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
	syn := tcpFrame(t, true, 1000, 0, "S", 0)
	a1 := c.add(start, 0, syn, true)
	a2 := c.add(start.Add(time.Second), 0, syn, true)
	b1 := c.add(start.Add(10*time.Microsecond), 1, syn, false)
	b2 := c.add(start.Add(time.Second+10*time.Microsecond), 1, syn, false)
	if a1.pair != b1 || a2.pair != b2 {
		t.Errorf("pairs: a1-%p a2-%p, want b1 %p and b2 %p", a1.pair, a2.pair, b1, b2)
	}
	if !b1.Dup || !b2.Dup || a1.Dup || a2.Dup {
		t.Errorf("dup: a1 %v a2 %v b1 %v b2 %v, want the receiver's copies", a1.Dup, a2.Dup, b1.Dup, b2.Dup)
	}
}

// TestPairingBounded: copies whose twin never comes are forgotten beyond
// maxUnpaired, oldest first, so a capture that drops frames on one end cannot make
// the table grow without bound.
func TestPairingBounded(t *testing.T) {
	start := time.Unix(1000, 0)
	tl := New(start, []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}})
	frame := func(i int) []byte {
		b := make([]byte, 60)
		b[12], b[13] = 0x88, 0xb5 // local experimental EtherType: no decoding
		b[20], b[21], b[22] = byte(i), byte(i>>8), byte(i>>16)
		return b
	}
	n := maxUnpaired + 100
	for i := 0; i < n; i++ {
		tl.AddFrame(Captured{Time: start.Add(time.Duration(i)), Index: 0, Data: frame(i), Out: true})
	}
	if tl.pairs.n != maxUnpaired || len(tl.pairs.order) > 2*maxUnpaired {
		t.Fatalf("%d waiting, order %d; want %d, at most %d", tl.pairs.n, len(tl.pairs.order), maxUnpaired, 2*maxUnpaired)
	}
	old := tl.AddFrame(Captured{Time: start, Index: 1, Data: frame(0)})
	recent := tl.AddFrame(Captured{Time: start, Index: 1, Data: frame(n - 1)})
	if old.pair != nil || recent.pair == nil {
		t.Errorf("the oldest copy should be forgotten (paired %v) and the newest kept (paired %v)", old.pair != nil, recent.pair != nil)
	}
}

// BenchmarkAddFrame is the timeline's part of the run path per frame: a 74-byte SYN
// recorded on both ends of a link (decode, flow, pairing), on a live timeline so that
// memory stays flat; per copy.
func BenchmarkAddFrame(b *testing.B) {
	t := &testing.T{}
	mss := layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}
	syn := tcpFrame(t, true, 1000, 0, "S", 0, mss)
	tl := NewLive(time.Unix(1000, 0), []Endpoint{{"client", "eth0", 1}, {"server", "eth0", 0}}, func(Event) {})
	at := time.Unix(1000, 0)
	line := []byte("IP 198.18.1.2.40000 > 198.18.1.1.80: Flags [S]")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tl.AddFrame(Captured{Time: at, Index: i & 1, Data: syn, Out: i&1 == 0, Line: line})
	}
}
