package ktrace_test

import (
	"io"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/ktrace"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/sockdiag"
)

// Shorter names for the states the paths below are made of.
const (
	closed    = sockdiag.Close
	listenS   = sockdiag.Listen
	synSent   = sockdiag.SynSent
	synRecv   = sockdiag.SynRecv
	est       = sockdiag.Established
	finWait1  = sockdiag.FinWait1
	finWait2  = sockdiag.FinWait2
	closeWait = sockdiag.CloseWait
	lastAck   = sockdiag.LastAck
	closing   = sockdiag.Closing
)

// TestHandshakeAndClosePaths: a connect, accept, active close by the client and
// passive close by the server, over IPv4 and IPv6, give the kernel's exact paths.
func TestHandshakeAndClosePaths(t *testing.T) {
	lab := labtest.Start(t, twoHosts)
	_, recs := traceLab(t, nil, lab)
	a, b := lab.Node("a"), lab.Node("b")
	for _, tc := range []struct {
		name           string
		client, server netip.AddrPort
	}{
		{"IPv4", netip.MustParseAddrPort("198.18.0.1:41001"), netip.MustParseAddrPort("198.18.0.2:7001")},
		{"IPv6", netip.MustParseAddrPort("[2001:db8::1]:41002"), netip.MustParseAddrPort("[2001:db8::2]:7002")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t, b, tc.server)
			accepted := make(chan error, 1)
			go func() {
				s, err := ln.Accept()
				if err == nil {
					_, err = io.Copy(io.Discard, s) // until the client's FIN
					s.Close()
				}
				accepted <- err
			}()
			c, err := dial(a, tc.client, tc.server)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("x"))
			c.Close()
			if err := <-accepted; err != nil {
				t.Fatal(err)
			}
			cport, sport := tc.client.Port(), tc.server.Port()
			aev := recs["a"].wait(t, "client socket reaching CLOSE", reaches(toPort(sport), closed))
			bev := recs["b"].wait(t, "server child reaching CLOSE", reaches(childOf(cport), closed))

			client := socketOf(aev, toPort(sport))
			if diff := cmp.Diff([]ktrace.State{closed, synSent, est, finWait1, finWait2, closed}, path(aev, client)); diff != "" {
				t.Errorf("client path (-want +got):\n%s", diff)
			}
			child := socketOf(bev, childOf(cport))
			if diff := cmp.Diff([]ktrace.State{listenS, synRecv, est, closeWait, lastAck, closed}, path(bev, child)); diff != "" {
				t.Errorf("server child path (-want +got):\n%s", diff)
			}
			listener := socketOf(bev, func(s *ktrace.StateChange) bool { return s.New == listenS && s.Local == tc.server })
			if p := path(bev, listener); len(p) < 2 || p[0] != closed || p[1] != listenS {
				t.Errorf("listener path %v, want it to start CLOSE → LISTEN", p)
			}
			// The 4-tuple, as each side sees it, on the change to ESTABLISHED.
			for _, s := range states(aev) {
				if s.Sock == client && s.New == est && (s.Local != tc.client || s.Remote != tc.server) {
					t.Errorf("client ESTABLISHED tuple %v, want %v > %v", s.Tuple, tc.client, tc.server)
				}
			}
			for _, s := range states(bev) {
				if s.Sock == child && s.New == est && (s.Local != tc.server || s.Remote != tc.client) {
					t.Errorf("server ESTABLISHED tuple %v, want %v > %v", s.Tuple, tc.server, tc.client)
				}
			}
			// FIN_WAIT2 → CLOSE is the hand-over to a timewait socket: sock_diag
			// shows it.
			socks, err := sockdiag.ListAt(a.NetNSFd())
			if err != nil {
				t.Fatal(err)
			}
			if tw := sockdiag.Filter(socks, sockdiag.Match{Local: tc.client, Remote: tc.server}); len(tw) != 1 || tw[0].State != sockdiag.TimeWait {
				t.Errorf("client socket after FIN_WAIT2 → CLOSE: %v, want one in TIME_WAIT", tw)
			}
		})
	}
}
