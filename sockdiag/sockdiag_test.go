package sockdiag_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pktlab/pktlab/agent"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/sockdiag"
)

const twoNodes = `
nodes:
  client: {interfaces: {eth0: [198.18.1.2/24]}}
  server: {interfaces: {eth0: [198.18.1.1/24]}}
links:
  - [client:eth0, server:eth0]
`

func TestParseState(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want sockdiag.State
	}{
		{"TIME_WAIT", sockdiag.TimeWait}, {"time-wait", sockdiag.TimeWait},
		{"FIN_WAIT_2", sockdiag.FinWait2}, {"ESTAB", sockdiag.Established},
		{"close_wait", sockdiag.CloseWait},
	} {
		got, ok := sockdiag.ParseState(tt.in)
		if !ok || got != tt.want {
			t.Errorf("ParseState(%q) = %v, %v; want %v", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := sockdiag.ParseState("WAITING"); ok {
		t.Error("ParseState(WAITING) accepted")
	}
}

// TestOnlyCloserInTimeWait closes from the client and reads both nodes' socket tables:
// the client (active closer) holds TIME_WAIT, the server's accepted socket was in
// CLOSE_WAIT until it closed too, and then is gone (EXPERIMENTS.md E2).
func TestOnlyCloserInTimeWait(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	cn, sn := lab.Node("client"), lab.Node("server")
	ca := agent.New(agent.Config{Node: "client", Do: cn.Do})
	sa := agent.New(agent.Config{Node: "server", Do: sn.Do})
	t.Cleanup(func() { ca.Close(); sa.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a bound on a loaded machine, not a sync point
	defer cancel()
	srv := netip.MustParseAddrPort("198.18.1.1:80")
	for _, step := range []func() (agent.Call, error){
		func() (agent.Call, error) { return sa.Open("l", agent.TCP, 4) },
		func() (agent.Call, error) { return sa.Bind("l", srv) },
		func() (agent.Call, error) { return sa.Listen("l", 4) },
		func() (agent.Call, error) { return ca.Open("c", agent.TCP, 4) },
		func() (agent.Call, error) { return ca.Connect(ctx, "c", srv, false) },
		func() (agent.Call, error) { return sa.Accept(ctx, "l", "s") },
		func() (agent.Call, error) { return ca.CloseSocket("c") },
	} {
		c, err := step()
		if err != nil || !c.OK() {
			t.Fatalf("%s: %v", c, err)
		}
	}
	// left waits until no socket of node is in one of the passing states, which end
	// when the peer's segment arrives: what the table shows next is settled.
	left := func(node string, passing ...sockdiag.State) {
		labtest.Until(t, node+" to leave "+fmt.Sprint(passing), func() (bool, error) {
			socks, err := sockdiag.ListAt(lab.Node(node).NetNSFd())
			return err == nil && !slices.ContainsFunc(socks, func(s sockdiag.Socket) bool {
				return slices.Contains(passing, s.State)
			}), err
		})
	}
	left("client", sockdiag.FinWait1) // the server acknowledged the FIN as it entered CLOSE_WAIT
	states := func(n interface {
		Name() string
	}, h func() ([]sockdiag.Socket, error)) []string {
		socks, err := h()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range sockdiag.Filter(socks, sockdiag.Match{Remote: netip.AddrPortFrom(netip.Addr{}, 0)}) {
			out = append(out, s.State.String())
		}
		return out
	}
	list := func(node interface{ Name() string }) func() ([]sockdiag.Socket, error) {
		return func() ([]sockdiag.Socket, error) {
			return sockdiag.ListAt(lab.Node(node.Name()).NetNSFd())
		}
	}
	if got := states(cn, list(cn)); len(got) != 1 || got[0] != "FIN_WAIT2" {
		t.Errorf("client after close, peer not yet closed: %v, want [FIN_WAIT2]", got)
	}
	if got := states(sn, list(sn)); len(got) != 2 || got[0] != "LISTEN" || got[1] != "CLOSE_WAIT" {
		t.Errorf("server after peer's FIN: %v, want [LISTEN CLOSE_WAIT]", got)
	}
	if c, _ := sa.CloseSocket("s"); !c.OK() {
		t.Fatal(c)
	}
	left("server", sockdiag.LastAck) // the client acknowledged the server's FIN
	socks, err := list(cn)()
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 || socks[0].State != sockdiag.TimeWait || socks[0].Expires < 50*time.Second {
		t.Errorf("client after both closed: %v, want one TIME_WAIT with ~60 s left", socks)
	}
	if got := states(sn, list(sn)); len(got) != 1 || got[0] != "LISTEN" {
		t.Errorf("server after both closed: %v, want [LISTEN] (no TIME_WAIT on the passive closer)", got)
	}
}
