package drill

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pktlab/pktlab/tcpstate"
)

func (u *userStack) flagsArg(c *Syscall) (int64, error) {
	switch c.Name {
	case "send", "recv", "sendto", "recvfrom":
		return intOf(c.Args[3])
	case "sendmsg", "recvmsg":
		return intOf(c.Args[2])
	}
	return 0, nil
}

// sizes reads a data call's flags and length.
func (u *userStack) sizes(c *Syscall) (int64, int, error) {
	flags, err := u.flagsArg(c)
	if err != nil {
		return 0, 0, err
	}
	if c.Name == "sendmsg" || c.Name == "recvmsg" {
		n, err := iovLength(c.Args[1])
		return flags, n, err
	}
	n, err := lengthArg(c.Args[2])
	return flags, n, err
}

func (u *userStack) read(c *Syscall) (int64, error, string, bool) {
	s, _ := u.sock(c.Args[0])
	flags, n, err := u.sizes(c)
	if err != nil {
		return 0, err, "", false
	}
	if s.typ == unix.SOCK_DGRAM {
		if len(s.udpRx) == 0 {
			return u.block(s, flags)
		}
		d := s.udpRx[0]
		s.udpRx = s.udpRx[1:]
		return int64(min(n, len(d))), nil, "", false
	}
	if s.conn == nil {
		return 0, syscall.ENOTCONN, "", false
	}
	m := s.conn.m
	switch {
	case m.Readable() > 0:
		got, out := m.Read(u.clock(), make([]byte, n))
		u.apply(s.conn, out)
		return int64(got), nil, "", false
	case m.ReadClosed():
		return 0, nil, "", false
	case m.Err() != nil:
		err := m.Err()
		s.reportErr = false
		if err == syscall.ECONNRESET && m.State() == tcpstate.Closed && s.readErrDone {
			return 0, nil, "", false // Linux reports a reset once; later reads see end of file
		}
		s.readErrDone = true
		return 0, err, "", false
	}
	return u.block(s, flags)
}

func (u *userStack) write(c *Syscall) (int64, error, string, bool) {
	s, _ := u.sock(c.Args[0])
	flags, n, err := u.sizes(c)
	if err != nil {
		return 0, err, "", false
	}
	data := payloadOf(c.Args[1], n)
	if s.typ == unix.SOCK_DGRAM {
		if !s.udpRemote.IsValid() {
			return 0, syscall.EDESTADDRREQ, "", false
		}
		b, err := udpPacket(s.local, s.udpRemote, data)
		if err != nil {
			return 0, err, "", false
		}
		u.out = append(u.out, sniffed{b: b, at: u.t})
		return int64(n), nil, "", false
	}
	if s.conn == nil {
		return 0, syscall.EPIPE, "", false
	}
	if s.conn.m.WriteSpace() == 0 && n > 0 {
		return u.block(s, flags)
	}
	got, out, err := s.conn.m.Write(u.clock(), data)
	u.apply(s.conn, out)
	return int64(got), err, "", false
}
