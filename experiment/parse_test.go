package experiment

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseOK(t *testing.T) {
	f, err := Load("testdata/ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Comment != "The handshake." {
		t.Errorf("comment = %q", f.Comment)
	}
	if len(f.Steps) != 3 || f.Steps[2].Action != ActParallel || len(f.Steps[2].Branches) != 2 || len(f.Steps[2].Branches[1]) != 2 {
		t.Errorf("steps parsed wrong: %+v", f.Steps)
	}
	if got := f.Steps[2].Branches[1][0].Duration; got != 10*time.Millisecond {
		t.Errorf("sleep = %v", got)
	}
	if len(f.Capture) != 2 || f.Capture[0].String() != "client:eth0" {
		t.Errorf("default capture = %v, want both ends of the link", f.Capture)
	}
	if len(f.Sysctls) != 1 || f.Sysctls[0].Key != "net.ipv4.tcp_timestamps" {
		t.Errorf("sysctls = %+v", f.Sysctls)
	}
	fm := f.Expect[0].Check.(*FrameMatch)
	if got, want := describeFrame(fm), "a frame flags [S], seq 0 on client:eth0"; got != want {
		t.Errorf("frame match reads %q, want %q", got, want)
	}
}

const labOK = `lab:
  nodes:
    client: {interfaces: {eth0: [198.18.1.2/24]}}
    server: {interfaces: {eth0: [198.18.1.1/24]}}
  links:
    - [client:eth0, server:eth0]
`

// TestParseErrors checks every kind of error with its exact position.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"yaml syntax", "lab: [\n", []string{"x.yaml:1:1: bad YAML: did not find expected node content"}},
		{"empty", "", []string{"x.yaml:1:1: empty experiment: want a mapping with lab, steps and expect"}},
		{"no lab", "steps: []\n", []string{"x.yaml:1:1: the experiment has no lab: give a topology inline or a path to one"}},
		{"unknown top key", labOK + "step: []\n", []string{"x.yaml:7:1: unknown key \"step\" in experiment (known: lab, sysctls, nft, trace, capture, timeout, steps, expect)"}},
		{"no steps", labOK, []string{"x.yaml:1:1: the experiment has no steps"}},
		{"lab error position", "lab:\n  nodes:\n    client: {interfaces: {eth0: [10.0.0.1/24]}}\nsteps: [{sleep: 1s}]\n",
			[]string{"x.yaml:3:27: lab: interface client:eth0 is in no link; add it to links or remove it", "x.yaml:3:34: lab: client:eth0: address 10.0.0.1/24 is outside the lab ranges"}},
		{"lab path missing", "lab: nope.yaml\nsteps: [{sleep: 1s}]\n", []string{"x.yaml:1:6: lab \"nope.yaml\": topology testdata/nope.yaml: no such file"}},
		{"bad duration", labOK + "steps: [{sleep: 2 seconds}]\n", []string{"x.yaml:7:17: sleep \"2 seconds\" is not a duration: write it in Go syntax, like 500ms, 2s or 1m30s"}},
		{"no action", labOK + "steps: [{node: client}]\n", []string{"x.yaml:7:9: step has no action: give one of accept, close, connect, craft, epoll, exec, listen, nft, packet_close, packet_open, parallel, recv, send, setsockopt, shutdown, sleep, sockerror, socket, sysctl, us_abort, us_accept, us_close, us_dial, us_forget, us_input, us_listen, us_recv, us_send, us_shutdown, wait"}},
		{"two actions", labOK + "steps: [{node: client, close: c, connect: c}]\n", []string{"x.yaml:7:34: a step does one thing: it has both \"close\" and \"connect\" (split it into two steps)"}},
		{"unknown step key", labOK + "steps: [{node: client, connect: c, addr: 198.18.1.1:80, port: 80}]\n", []string{"x.yaml:7:57: unknown key \"port\" in connect step (known: connect, node, id, timeout, expect, addr, nonblock, bind, opts, udp)"}},
		{"no node", labOK + "steps: [{connect: c, addr: 198.18.1.1:80}]\n", []string{"x.yaml:7:9: connect step needs node: which lab node it runs on"}},
		{"unknown node", labOK + "steps: [{node: router, connect: c, addr: 198.18.1.1:80}]\n", []string{"x.yaml:7:16: no node \"router\" in the lab (nodes: client, server)"}},
		{"no addr", labOK + "steps: [{node: client, connect: c}]\n", []string{"x.yaml:7:24: connect needs addr: the address:port to connect"}},
		{"bad addr", labOK + "steps: [{node: client, connect: c, addr: 198.18.1.1}]\n", []string{"x.yaml:7:42: addr \"198.18.1.1\" must be address:port, like 198.18.1.1:80 or [2001:db8::1]:80"}},
		{"outside lab range", labOK + "steps: [{node: client, connect: c, addr: 8.8.8.8:53}]\n", []string{"x.yaml:7:42: addr 8.8.8.8 is outside the lab ranges: use 198.18.0.0/15 or 2001:db8::/32"}},
		{"bad option", labOK + "steps: [{node: client, connect: c, addr: 198.18.1.1:80, opts: {lingr: 0}}]\n", []string{"x.yaml:7:64: unknown socket option \"lingr\" (one of linger, reuseaddr, nodelay, cork, keepalive, keepidle, keepintvl, keepcnt, rcvbuf, sndbuf, maxseg, pmtudisc, ttl, congestion)"}},
		{"bad how", labOK + "steps: [{node: client, connect: c, addr: 198.18.1.1:80}, {node: client, shutdown: c, how: write}]\n", []string{"x.yaml:7:91: how \"write\" must be rd, wr or rdwr"}},
		{"socket not open", labOK + "steps: [{node: client, close: c}]\n", []string{"x.yaml:7:9: close on socket c: no earlier step on node client opens it"}},
		{"accept without listener", labOK + "steps: [{node: server, accept: l, as: s}]\n", []string{"x.yaml:7:9: accept on l: no earlier step on node server opens it (listen first)"}},
		{"duplicate id", labOK + "steps: [{sleep: 1s, id: a}, {sleep: 1s, id: a}]\n", []string{"x.yaml:7:29: step id \"a\" is already used at line 7"}},
		{"bad flags", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {flags: SYN}}]\n", []string{"x.yaml:8:26: flags \"SYN\": TCP flags are written as tcpdump does: S F R P U E W and . for ACK"}},
		{"bad option name", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {options: [mss, timestamp]}}]\n", []string{"x.yaml:8:34: TCP option \"timestamp\": write it as tcpdump does (mss, nop, eol, wscale, sackOK, sack, TS, md5, tfo, mptcp, unknown)"}},
		{"unknown endpoint", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {on: client:eth9}}]\n", []string{"x.yaml:8:23: node client has no interface \"eth9\""}},
		{"unknown step ref", labOK + "steps: [{sleep: 1s}]\nexpect: [{call: {step: conn, errno: ECONNREFUSED}}]\n", []string{"x.yaml:8:24: no step has id \"conn\" (give the step id: conn)"}},
		{"bad errno", labOK + "steps: [{sleep: 1s, id: s}]\nexpect: [{call: {step: s, errno: refused}}]\n", []string{"x.yaml:8:34: errno \"refused\" must be 0 or a name such as ECONNREFUSED"}},
		{"unknown errno name", labOK + "steps: [{sleep: 1s, id: s}]\nexpect: [{call: {step: s, errno: EWHATEVER}}]\n", []string{"x.yaml:8:34: errno \"EWHATEVER\" is not an errno name of this system"}},
		{"bad congestion name", labOK + "steps: [{node: client, connect: c, addr: 198.18.1.1:80, opts: {congestion: Cubic!}}]\n", []string{"x.yaml:7:76: congestion \"Cubic!\" is not a congestion control name such as cubic, reno or bbr"}},
		{"send size too big", labOK + "steps: [{node: client, connect: c, addr: 198.18.1.1:80}, {node: client, send: c, size: 1073741824}]\n", []string{"x.yaml:7:88: size \"1073741824\" must be an integer from 0 to 67108864"}},
		{"bad state", labOK + "steps: [{sleep: 1s}]\nexpect: [{socket: {node: client, state: TIMEWAIT}}]\n", []string{"x.yaml:8:41: TCP state \"TIMEWAIT\" is not one of ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV"}},
		{"expect no kind", labOK + "steps: [{sleep: 1s}]\nexpect: [{desc: x}]\n", []string{"x.yaml:8:10: expectation has no kind: give one of frame, call, socket, trace, us_state, conntrack, packet, link"}},
		{"bad proto", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {proto: sctp}}]\n", []string{"x.yaml:8:26: proto \"sctp\" must be one of "}},
		{"bad ecn", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {ecn: ect2}}]\n", []string{"x.yaml:8:24: ecn \"ect2\" must be one of not-ect, ect0, ect1, ce"}},
		{"none with count", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {none: true, count: 2}}]\n", []string{"x.yaml:8:18: frame: none: true cannot be combined with count or min_count"}},
		{"sysctl not net", labOK + "sysctls: {client: {kernel.pid_max: 5}}\nsteps: [{sleep: 1s}]\n", []string{"x.yaml:7:20: sysctl \"kernel.pid_max\": only net.* sysctls are per namespace"}},
		{"bad filter", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {filter: \"tcp port http2x\"}}]\n", []string{"x.yaml:8:37: filter \"tcp port http2x\": cannot use \"http2x\": port names are not supported, write a number"}},
		{"bad capture", labOK + "capture: [client]\nsteps: [{sleep: 1s}]\n", []string{"x.yaml:7:11: capture \"client\" must be node:interface"}},
		{"us_forget not open", labOK + "steps: [{node: client, us_forget: c}]\n", []string{"x.yaml:7:9: us_forget on socket c: no earlier step on node client opens it"}},
		{"us_forget takes no args", labOK + "steps: [{node: client, us_dial: c, addr: 198.18.1.1:80}, {node: client, us_forget: c, data: x}]\n", []string{"x.yaml:7:87: unknown key \"data\" in us_forget step (known: us_forget, node, id, timeout, expect)"}},
		{"us_input bad value", labOK + "steps: [{node: client, us_input: pause}]\n", []string{"x.yaml:7:34: us_input \"pause\" must be hold (queue the userspace host's received segments) or release (process them in order)"}},
		{"us_input needs node", labOK + "steps: [{us_input: hold}]\n", []string{"x.yaml:7:9: us_input step needs node: which lab node it runs on"}},
		{"packet_open needs iface", labOK + "steps: [{node: server, packet_open: p}]\n", []string{"x.yaml:7:24: packet_open needs iface: the node's interface to open the packet socket on"}},
		{"packet_open unknown iface", labOK + "steps: [{node: server, packet_open: p, iface: eth1}]\n", []string{"x.yaml:7:47: node server has no interface \"eth1\""}},
		{"packet_open bad protocol", labOK + "steps: [{node: server, packet_open: p, iface: eth0, protocol: ipx}]\n", []string{"x.yaml:7:63: protocol \"ipx\": give all, ip, arp, ip6 or an EtherType such as 0x88cc"}},
		{"packet_open bad filter", labOK + "steps: [{node: server, packet_open: p, iface: eth0, filter: \"tcp port x\"}]\n", []string{"x.yaml:7:71: filter \"tcp port x\""}},
		{"packet_open twice", labOK + "steps: [{node: server, packet_open: p, iface: eth0}, {node: client, packet_open: p, iface: eth0}]\n", []string{"x.yaml:7:54: packet socket p is already opened at line 7: give each packet socket its own name"}},
		{"packet_close not open", labOK + "steps: [{node: server, packet_close: p}]\n", []string{"x.yaml:7:9: packet_close on socket p: no earlier step on node server opens it"}},
		{"packet unknown socket", labOK + "steps: [{sleep: 1s}]\nexpect: [{packet: {socket: nope, none: true}}]\n", []string{"x.yaml:8:28: no packet_open step opens a packet socket named \"nope\""}},
		{"packet bad type", labOK + "steps: [{node: server, packet_open: p, iface: eth0}]\nexpect: [{packet: {socket: p, type: mine}}]\n", []string{"x.yaml:8:37: type \"mine\" must be one of host, broadcast, multicast, otherhost, outgoing (sll_pkttype)"}},
		{"packet bad ethertype", labOK + "steps: [{node: server, packet_open: p, iface: eth0}]\nexpect: [{packet: {socket: p, ethertype: ip}}]\n", []string{"x.yaml:8:42: ethertype \"ip\" must be one of arp, ipv4, ipv6"}},
		{"packet needs socket", labOK + "steps: [{sleep: 1s}]\nexpect: [{packet: {none: true}}]\n", []string{"x.yaml:8:19: packet needs socket: the name a packet_open step gave it"}},
		{"link needs promiscuity", labOK + "steps: [{sleep: 1s}]\nexpect: [{link: {on: server:eth0}}]\n", []string{"x.yaml:8:17: link needs on (node:interface) and promiscuity (the count netlink reports)"}},
		{"link unknown iface", labOK + "steps: [{sleep: 1s}]\nexpect: [{link: {on: server:eth3, promiscuity: 0}}]\n", []string{"x.yaml:8:22: node server has no interface \"eth3\""}},
		{"ack fields need on", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {proto: tcp, acked_segments: 2}}]\n", []string{"x.yaml:8:18: frame: acked_segments and ack_delay need on: the one interface where both the data and its ACK are seen (the receiver's)"}},
		{"ack_delay unknown bound", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {on: server:eth0, ack_delay: {mn: 1ms}}}]\n", []string{"x.yaml:8:48: unknown key \"mn\" in ack_delay (known: min, max)"}},
		{"ack_delay bad duration", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {on: server:eth0, ack_delay: {min: 40}}}]\n", []string{"x.yaml:8:53: ack_delay min \"40\" is not a duration"}},
		{"ack_delay max below min", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {on: server:eth0, ack_delay: {min: 40ms, max: 1ms}}}]\n", []string{"x.yaml:8:47: ack_delay: max 1ms is below min 40ms"}},
		{"acked_segments negative", labOK + "steps: [{sleep: 1s}]\nexpect: [{frame: {on: server:eth0, acked_segments: -1}}]\n", []string{"x.yaml:8:52: acked_segments \"-1\" must be an integer from 0 to 1048576"}},
		{"two errors in order", labOK + "steps: [{sleep: 1x}, {sleep: 2y}]\n", []string{"x.yaml:7:17: sleep \"1x\"", "x.yaml:7:30: sleep \"2y\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("testdata/x.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			if !IsInvalid(err) {
				t.Errorf("IsInvalid(%v) = false", err)
			}
			list := err.(ErrorList)
			var got []string
			for i, e := range list {
				s := strings.Replace(e.Error(), "testdata/x.yaml", "x.yaml", 1)
				if i < len(tt.want) && strings.HasPrefix(s, tt.want[i]) {
					s = tt.want[i]
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStepKinds: a socket step and a userspace TCP step each get their own kind's
// arguments and no other's, from the same keys where both take them.
func TestStepKinds(t *testing.T) {
	src := labOK + `steps:
  - {node: server, listen: l, addr: "[2001:db8::1]:80", backlog: 4, opts: {reuseaddr: 1}}
  - {node: client, us_dial: u, addr: 198.18.1.1:80, bind: 198.18.1.2:40000, tcp: {mss: 1000}}
  - {node: client, us_send: u, data: hi}
  - {node: client, connect: c, addr: 198.18.1.1:80}
  - {node: client, send: c, size: 5, flags: [oob]}
  - {node: client, us_input: release}
`
	f, err := Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	type kinds struct {
		Socket, Userspace bool
		Conn              Conn
	}
	var got []kinds
	for _, s := range f.Steps {
		k := kinds{Socket: s.Socket != nil, Userspace: s.Userspace != nil}
		if c := s.conn(); c != nil {
			k.Conn = *c
		}
		got = append(got, k)
	}
	dial, v6 := f.Steps[1].Userspace, f.Steps[0].Socket
	if dial.TCP == nil || dial.TCP.MSS != 1000 || !v6.V6 || len(v6.Opts) != 1 || f.Steps[4].Flags == 0 || f.Steps[5].Input != "release" {
		t.Errorf("kind-only arguments parsed wrong: %+v %+v", *dial, *v6)
	}
	want := []kinds{
		{Socket: true, Conn: Conn{Addr: netip.MustParseAddrPort("[2001:db8::1]:80"), Backlog: 4, Size: 65536}},
		{Userspace: true, Conn: Conn{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Bind: netip.MustParseAddrPort("198.18.1.2:40000"), HasBind: true, Backlog: 16, Size: 65536}},
		{Userspace: true, Conn: Conn{Data: []byte("hi"), Backlog: 16, Size: 65536}},
		{Socket: true, Conn: Conn{Addr: netip.MustParseAddrPort("198.18.1.1:80"), Backlog: 16, Size: 65536}},
		{Socket: true, Conn: Conn{Backlog: 16, Size: 5, fill: true}},
		{Userspace: true, Conn: Conn{Backlog: 16, Size: 65536}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Conn{}), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
