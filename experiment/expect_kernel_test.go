package experiment

import (
	"net/netip"
	"strings"
	"testing"
)

// TestParseKernelExpectations: the four kernel kinds parse into their matches.
func TestParseKernelExpectations(t *testing.T) {
	src := labOK + `steps: [{sleep: 1s}]
expect:
  - kernel_state: {node: client, remote: 198.18.1.1:80, path: [CLOSE, SYN_SENT, ESTABLISHED]}
  - kernel_state: {node: client, paths: [[CLOSE, SYN_SENT, ESTABLISHED], [CLOSE, SYN_SENT, CLOSE]]}
  - drop: {node: server, reason: NETFILTER_DROP, proto: tcp, dport: 80, flags: S, count: 2}
  - retransmit: {node: client, flags: S, ca: Loss, count: 2, gaps: [1s, 2s], tolerance: 50}
  - reset: {node: server, sent: true, state: NONE, reason: NO_SOCKET}
  - reset: {node: client, received: true, state: syn-sent}
`
	f, err := Parse("testdata/x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ks := f.Expect[0].Check.(*KernelStateMatch)
	if ks.Node != "client" || ks.Remote != netip.MustParseAddrPort("198.18.1.1:80") || strings.Join(ks.Path, " ") != "CLOSE SYN_SENT ESTABLISHED" {
		t.Errorf("kernel_state = %+v", ks)
	}
	if alts := f.Expect[1].Check.(*KernelStateMatch).Paths; len(alts) != 2 || strings.Join(alts[1], " ") != "CLOSE SYN_SENT CLOSE" {
		t.Errorf("kernel_state paths = %v", alts)
	}
	d := f.Expect[2].Check.(*DropMatch)
	if d.Reason != "NETFILTER_DROP" || d.Proto != "tcp" || d.DPort == nil || *d.DPort != 80 || d.SPort != nil || d.Flags != "S" || d.Count != exactly(2) {
		t.Errorf("drop = %+v", d)
	}
	rt := f.Expect[3].Check.(*RetransmitMatch)
	if rt.Flags != "S" || rt.CA != "Loss" || rt.Count != exactly(2) || len(rt.Gaps) != 2 || rt.Tol != 0.5 {
		t.Errorf("retransmit = %+v", rt)
	}
	if r := f.Expect[4].Check.(*ResetMatch); !r.Sent || r.State != "NONE" || r.Reason != "NO_SOCKET" || r.Count != (Exactly{}) {
		t.Errorf("reset sent = %+v", r)
	}
	if r := f.Expect[5].Check.(*ResetMatch); r.Sent || r.State != "SYN_SENT" {
		t.Errorf("reset received = %+v", r)
	}
}

// TestParseKernelErrors: every mistake is placed at file:line:col.
func TestParseKernelErrors(t *testing.T) {
	head := labOK + "steps: [{sleep: 1s}]\nexpect:\n"
	tests := []struct {
		name, line string
		want       []string
	}{
		{"time wait", "  - kernel_state: {node: client, path: [FIN_WAIT2, TIME_WAIT]}\n",
			[]string{"x.yaml:9:52: path state TIME_WAIT: not a state change on this kernel: a socket leaving for TIME_WAIT is reported FIN_WAIT2 → CLOSE"}},
		{"new syn recv", "  - kernel_state: {node: server, path: [LISTEN, NEW_SYN_RECV]}\n",
			[]string{"x.yaml:9:49: path state NEW_SYN_RECV: not a state change on this kernel"}},
		{"bad state", "  - kernel_state: {node: client, path: [CLOSED, SYN_SENT]}\n",
			[]string{"x.yaml:9:41: path state \"CLOSED\" is not a kernel TCP state: one of"}},
		{"no path", "  - kernel_state: {node: client}\n", []string{"x.yaml:9:19: kernel_state needs path (the states"}},
		{"path and paths", "  - kernel_state: {node: client, path: [CLOSE, LISTEN], paths: [[CLOSE, LISTEN]]}\n", []string{"x.yaml:9:19: kernel_state needs path"}},
		{"unknown node", "  - kernel_state: {node: nobody, path: [CLOSE, LISTEN]}\n", []string{"x.yaml:9:26: "}},
		{"reason case", "  - drop: {node: server, reason: netfilter_drop}\n",
			[]string{"x.yaml:9:34: reason \"netfilter_drop\" must be the kernel's name, in capitals"}},
		{"drop proto", "  - drop: {node: server, proto: sctp}\n", []string{"x.yaml:9:33: proto \"sctp\" must be one of tcp, udp, icmp, icmp6"}},
		{"drop flags", "  - drop: {node: server, flags: SX}\n", []string{"x.yaml:9:33: flags \"SX\": TCP flags are written as tcpdump does"}},
		{"drop none and count", "  - drop: {node: server, none: true, count: 1}\n", []string{"x.yaml:9:11: drop: none: true cannot be combined with count or min_count"}},
		{"retransmit ca", "  - retransmit: {node: client, ca: loss}\n", []string{"x.yaml:9:36: ca \"loss\" must be one of Open, Disorder, CWR, Recovery, Loss"}},
		{"retransmit no node", "  - retransmit: {count: 1}\n", []string{"x.yaml:9:17: retransmit needs node"}},
		{"reset no direction", "  - reset: {node: client}\n", []string{"x.yaml:9:12: reset needs sent: true or received: true"}},
		{"reset both", "  - reset: {node: client, sent: true, received: true}\n", []string{"x.yaml:9:39: reset: give sent or received, not both"}},
		{"reset false", "  - reset: {node: client, sent: false}\n", []string{"x.yaml:9:33: reset: sent: false means nothing"}},
		{"reset reason received", "  - reset: {node: client, received: true, reason: NO_SOCKET}\n", []string{"x.yaml:9:12: reset: reason is the kernel's reason for a RST it sent"}},
		{"unknown key", "  - reset: {node: client, sent: true, why: x}\n", []string{"x.yaml:9:39: unknown key \"why\" in reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantParseErrors(t, head+tt.line, tt.want) })
	}
}

// wantParseErrors parses src as testdata/x.yaml and requires exactly the errors
// want, in order, each given by its beginning.
func wantParseErrors(t *testing.T, src string, want []string) {
	t.Helper()
	_, err := Parse("testdata/x.yaml", []byte(src))
	list, ok := err.(ErrorList)
	if !ok || !IsInvalid(err) {
		t.Fatalf("Parse: %v; want an invalid-file ErrorList", err)
	}
	if len(list) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, e := range list {
		if s := strings.Replace(e.Error(), "testdata/x.yaml", "x.yaml", 1); !strings.HasPrefix(s, want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, s, want[i])
		}
	}
}
