package sockdiag

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// State is a kernel TCP state, numbered as in include/net/tcp_states.h.
type State uint8

// TCP states (include/net/tcp_states.h).
const (
	Established State = iota + 1
	SynSent
	SynRecv
	FinWait1
	FinWait2
	TimeWait
	Close
	CloseWait
	LastAck
	Listen
	Closing
	NewSynRecv
)

var stateNames = [...]string{
	Established: "ESTABLISHED", SynSent: "SYN_SENT", SynRecv: "SYN_RECV",
	FinWait1: "FIN_WAIT1", FinWait2: "FIN_WAIT2", TimeWait: "TIME_WAIT", Close: "CLOSE",
	CloseWait: "CLOSE_WAIT", LastAck: "LAST_ACK", Listen: "LISTEN", Closing: "CLOSING",
	NewSynRecv: "NEW_SYN_RECV",
}

// String is the kernel's name for the state ("TIME_WAIT").
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState accepts the kernel name with '_' or '-' ("TIME-WAIT" as ss prints it),
// in any case, and "FIN_WAIT_1" spellings.
func ParseState(s string) (State, bool) {
	u := strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	u = strings.Replace(u, "FIN_WAIT_", "FIN_WAIT", 1)
	if u == "ESTAB" {
		u = "ESTABLISHED"
	}
	for i, n := range stateNames {
		if n != "" && n == u {
			return State(i), true
		}
	}
	return 0, false
}

// StateNames lists every state name, for error messages.
func StateNames() []string {
	var out []string
	for _, n := range stateNames {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Socket is one TCP socket in the kernel's table.
type Socket struct {
	Local, Remote netip.AddrPort
	State         State
	Retrans       uint8
	Expires       time.Duration // time left on the socket's timer (TIME_WAIT's, a retransmit…)
	RecvQ, SendQ  uint32
	Inode         uint32 // 0 for sockets no process holds (TIME_WAIT, orphans)
}

func (s Socket) String() string {
	out := fmt.Sprintf("%-12s %s → %s", s.State, s.Local, s.Remote)
	if s.Expires > 0 {
		out += fmt.Sprintf(" (timer %s)", s.Expires.Round(time.Millisecond))
	}
	return out
}

// ListAt returns every IPv4 and IPv6 TCP socket of the network namespace nsfd (testlab
// Node.NetNSFd), sorted by local then remote address.
//
// It opens its own NETLINK_INET_DIAG socket inside that namespace: a netlink.Handle made
// by NewHandleAt without naming NETLINK_INET_DIAG has no socket for it and silently falls
// back to one in the calling thread's namespace, which would read the host's table.
func ListAt(nsfd int) ([]Socket, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(nsfd), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: open NETLINK_INET_DIAG socket in namespace fd %d: %w", nsfd, err)
	}
	defer h.Close()
	return list(h)
}

func list(h *netlink.Handle) ([]Socket, error) {
	var out []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		socks, err := h.SocketDiagTCP(fam)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("sockdiag: dump TCP sockets (family %d) over NETLINK_INET_DIAG: %w", fam, err)
		}
		for _, s := range socks {
			out = append(out, Socket{
				Local:   ap(s.ID.Source, s.ID.SourcePort),
				Remote:  ap(s.ID.Destination, s.ID.DestinationPort),
				State:   State(s.State),
				Retrans: s.Retrans,
				Expires: time.Duration(s.Expires) * time.Millisecond,
				RecvQ:   s.RQueue,
				SendQ:   s.WQueue,
				Inode:   s.INode,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Local.Compare(out[j].Local); c != 0 {
			return c < 0
		}
		return out[i].Remote.Compare(out[j].Remote) < 0
	})
	return out, nil
}

func ap(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}

// Match selects sockets; zero fields match anything.
type Match struct {
	Local, Remote netip.AddrPort // a zero port matches any port; an invalid address any address
	State         State
}

// Matches reports whether s is selected by m.
func (m Match) Matches(s Socket) bool {
	return apMatch(m.Local, s.Local) && apMatch(m.Remote, s.Remote) && (m.State == 0 || m.State == s.State)
}

func apMatch(want, got netip.AddrPort) bool {
	if want.Addr().IsValid() && want.Addr().Unmap() != got.Addr() {
		return false
	}
	return want.Port() == 0 || want.Port() == got.Port()
}

// Filter returns the sockets m selects.
func Filter(socks []Socket, m Match) []Socket {
	var out []Socket
	for _, s := range socks {
		if m.Matches(s) {
			out = append(out, s)
		}
	}
	return out
}
