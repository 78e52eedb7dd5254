package drill

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/rawsock"
	"github.com/pktlab/pktlab/tcpstate"
)

func udpPacket(src, dst netip.AddrPort, data []byte) ([]byte, error) {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	return rawsock.Serialize(nil, ipLayer(src.Addr(), dst.Addr(), layers.IPProtocolUDP, ""), udp, gopacket.Payload(data))
}

func (u *userStack) accept(c *Syscall) (int64, error, string, bool) {
	s, _ := u.sock(c.Args[0])
	if !s.listening {
		return 0, syscall.EINVAL, "", false
	}
	if len(s.queue) == 0 {
		return u.block(s, 0)
	}
	conn := s.queue[0]
	s.queue = s.queue[1:]
	ns := &usock{typ: unix.SOCK_STREAM, local: conn.m.Local(), bound: true, conn: conn, noDelay: s.noDelay}
	if len(c.Args) == 4 { // accept4's SOCK_NONBLOCK
		fl, _ := intOf(c.Args[3])
		ns.nonblock = fl&unix.SOCK_NONBLOCK != 0
	}
	n := u.newFD(c, ns)
	u.cur = n
	return n, nil, "", false
}

func (u *userStack) closeCall(c *Syscall) (int64, error, string, bool) {
	s, n := u.sock(c.Args[0])
	if c.Name == "shutdown" {
		how, err := intOf(c.Args[1])
		if err != nil {
			return 0, err, "", false
		}
		if s.conn == nil {
			return 0, syscall.ENOTCONN, "", false
		}
		if how == unix.SHUT_WR || how == unix.SHUT_RDWR {
			u.apply(s.conn, s.conn.m.CloseWrite(u.clock()))
		}
		return 0, nil, "", false
	}
	delete(u.socks, n)
	if s.conn != nil {
		if s.linger0 {
			u.apply(s.conn, s.conn.m.Abort(u.clock(), "close with SO_LINGER {1, 0}"))
		} else {
			u.apply(s.conn, s.conn.m.Close(u.clock()))
		}
	}
	for _, q := range s.queue { // connections never accepted are reset, as Linux does
		u.apply(q, q.m.Abort(u.clock(), "listener closed"))
	}
	return 0, nil, "", false
}

func (u *userStack) control(c *Syscall) (int64, error, string, bool) {
	s, _ := u.sock(c.Args[0])
	switch c.Name {
	case "fcntl":
		cmd, err := intOf(c.Args[1])
		if err != nil {
			return 0, err, "", false
		}
		if cmd == unix.F_GETFL {
			fl := int64(unix.O_RDWR)
			if s.nonblock {
				fl |= unix.O_NONBLOCK
			}
			return fl, nil, "", false
		}
		if cmd != unix.F_SETFL || len(c.Args) < 3 {
			return 0, fmt.Errorf("fcntl: only F_GETFL and F_SETFL are supported"), "", false
		}
		fl, err := intOf(c.Args[2])
		s.nonblock = fl&unix.O_NONBLOCK != 0
		return 0, err, "", false
	case "setsockopt":
		return u.setsockopt(c, s)
	case "getsockopt":
		return u.getsockopt(c, s)
	}
	return u.ioctl(c, s)
}

// sockoptArgs reads setsockopt's and getsockopt's level, name and value.
func sockoptArgs(c *Syscall) (level, opt int64, v *Expr) {
	level, _ = intOf(c.Args[1])
	opt, _ = intOf(c.Args[2])
	return level, opt, c.Args[3]
}

func (u *userStack) setsockopt(c *Syscall, s *usock) (int64, error, string, bool) {
	level, opt, v := sockoptArgs(c)
	switch {
	case level == unix.SOL_SOCKET && opt == unix.SO_REUSEADDR:
		// Kept for getsockopt: one script, no TIME-WAIT clash for it to allow.
		n, err := intOf(v)
		s.reuseAddr = n != 0
		return 0, err, "", false
	case level == unix.SOL_SOCKET && opt == unix.SO_LINGER:
		on, _ := intOf(orZero(field(v, "onoff")))
		sec, _ := intOf(orZero(field(v, "linger")))
		s.linger0 = on != 0 && sec == 0
		return 0, nil, "", false
	case level == unix.IPPROTO_TCP && opt == unix.TCP_NODELAY:
		n, err := intOf(v)
		s.noDelay = n != 0
		return 0, err, "", false
	case level == unix.IPPROTO_TCP && opt == unix.TCP_CONGESTION:
		// The machine implements NewReno (RFC 5681, RFC 6582): Linux's "reno".
		if v.Kind != ExprString || v.Str != "reno" {
			return 0, syscall.ENOENT, "", false
		}
		return 0, nil, "", false
	}
	return 0, syscall.ENOPROTOOPT, "", false
}

func (u *userStack) getsockopt(c *Syscall, s *usock) (int64, error, string, bool) {
	level, opt, want := sockoptArgs(c)
	switch {
	case level == unix.SOL_SOCKET && opt == unix.SO_ERROR:
		got := int64(0)
		if s.conn != nil && s.reportErr && s.conn.m.Err() != nil {
			if e, ok := s.conn.m.Err().(syscall.Errno); ok {
				got = int64(e)
			}
			s.reportErr = false
		}
		if w, err := intOf(want); err == nil && w != got {
			return 0, nil, fmt.Sprintf("Bad getsockopt optval: expected: %d actual: %d", w, got), false
		}
		return 0, nil, "", false
	case level == unix.SOL_SOCKET && opt == unix.SO_REUSEADDR:
		got := int64(0)
		if s.reuseAddr {
			got = 1
		}
		if w, err := intOf(want); err == nil && w != got {
			return 0, nil, fmt.Sprintf("Bad getsockopt optval: expected: %d actual: %d", w, got), false
		}
		return 0, nil, "", false
	case level == unix.IPPROTO_TCP && opt == unix.TCP_CONGESTION:
		if want.Kind == ExprString && want.Str != "reno" {
			return 0, nil, fmt.Sprintf("Bad getsockopt optval: expected: %q actual: %q", want.Str, "reno"), false
		}
		return 0, nil, "", false
	}
	return 0, syscall.ENOPROTOOPT, "", false
}

func (u *userStack) ioctl(c *Syscall, s *usock) (int64, error, string, bool) {
	req, _ := intOf(c.Args[1])
	if s.conn == nil {
		return 0, syscall.EINVAL, "", false
	}
	var got int
	switch req {
	case unix.SIOCINQ:
		got = s.conn.m.Readable()
	case unix.SIOCOUTQ:
		got = s.conn.m.Unacknowledged()
	default:
		return 0, syscall.ENOTTY, "", false
	}
	if w, err := intOf(c.Args[2]); err == nil && c.Args[2].Kind != ExprEllipsis && int64(got) != w {
		return 0, nil, fmt.Sprintf("Bad ioctl value: expected: %d actual: %d", w, got), false
	}
	return 0, nil, "", false
}

// linuxState numbers states as struct tcp_info's tcpi_state does (include/net/tcp_states.h).
var linuxState = map[tcpstate.State]byte{
	tcpstate.Established: 1, tcpstate.SynSent: 2, tcpstate.SynReceived: 3, tcpstate.FinWait1: 4,
	tcpstate.FinWait2: 5, tcpstate.TimeWait: 6, tcpstate.Closed: 7, tcpstate.CloseWait: 8,
	tcpstate.LastAck: 9, tcpstate.Listen: 10, tcpstate.Closing: 11,
}

// tcpInfo builds struct tcp_info from the machine's variables: the fields a script
// can assert on that the machine has (state, options, wscales, rto, mss, cwnd,
// ssthresh, rtt); the rest read 0.
func (u *userStack) tcpInfo(fd int64) (TCPInfo, error) {
	if fd < 0 {
		fd = u.cur
	}
	s := u.socks[fd]
	if s == nil {
		return nil, fmt.Errorf("no socket")
	}
	ti := make(TCPInfo, TCPInfoSize)
	if s.conn == nil {
		if s.listening {
			ti[0] = 10
		} else {
			ti[0] = 7
		}
		return ti, nil
	}
	in := s.conn.m.Info()
	ti[0] = linuxState[in.State]
	if in.Timestamps {
		ti[5] |= 1
	}
	if in.SACK {
		ti[5] |= 2
	}
	ti[6] = in.SndWScale&0xf | in.RcvWScale<<4
	if in.SndWScale != 0 || in.RcvWScale != 0 {
		ti[5] |= 4
	}
	put := func(name string, v uint32) {
		f := tcpiFields[name]
		binary.NativeEndian.PutUint32(ti[f.off:], v)
	}
	put("tcpi_rto", uint32(in.RTO.Microseconds()))
	put("tcpi_snd_mss", uint32(in.SendMSS))
	put("tcpi_rtt", uint32(in.SRTT.Microseconds()))
	if in.SendMSS > 0 {
		put("tcpi_snd_cwnd", uint32(in.Cwnd/in.SendMSS))
		put("tcpi_snd_ssthresh", uint32(min(in.Ssthresh/in.SendMSS, 1<<31-1)))
	}
	return ti, nil
}
