package tcpstate

import (
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/tcpstate/seqnum"
)

// Conn is the state of one TCP connection: RFC 9293's TCB. It is not safe for
// concurrent use; the host serialises calls. Every method that takes a time is an
// entry point: it may change state and returns an Output that stays valid until the
// next entry point is called.
type Conn struct {
	cfg           Config
	local, remote netip.AddrPort
	state         State
	passive       bool  // created in LISTEN for a listener (RFC 9293's passive OPEN)
	err           error // why the connection failed, once it has
	userClosed    bool  // Close was called: the application will never read again
	wrShut        bool  // a FIN is queued after the send buffer
	finSent       bool
	synAcked      bool
	relistened    bool // a RST returned this passive connection to LISTEN
	rcvFin        bool // the peer's FIN has been received in order
	epoch         time.Time
	now           time.Time

	// Send sequence space (RFC 9293 §3.3.1). sndNxt is the highest sequence number
	// sent plus one ("SND.MAX"); retransmissions go out from rtxNext and leave it.
	iss, sndUna, sndNxt seqnum.Value
	sndWnd, maxSndWnd   uint32 // scaled
	sndWl1, sndWl2      seqnum.Value
	dataStart           seqnum.Value // sequence number of sndBuf[0]
	sndBuf              []byte       // unacknowledged and unsent data
	sndArr              []byte       // sndBuf's backing array, reused (see queueSend)

	// Receive sequence space.
	irs, rcvNxt seqnum.Value
	rcvRight    seqnum.Value // right edge of the window we advertised last
	lastAckSent seqnum.Value
	rcvBuf      []byte // in-order data the application has not read
	rcvArr      []byte // rcvBuf's backing array, reused
	ooo         []oooSegment
	lastOOO     SACKBlock // block holding the latest out-of-order arrival (RFC 2018 §4)

	// Negotiated options.
	sndWScale, rcvWScale uint8
	tsOK, sackOK, wsOK   bool
	sendMSS              int // payload bytes per segment, options excluded
	tsOffset             uint32
	tsRecent             uint32
	tsRecentSet          bool

	// Congestion control (RFC 5681, 6582) and the SACK scoreboard (RFC 6675).
	cwnd, ssthresh int
	cwndAcc        int // bytes acked in congestion avoidance, towards the next MSS
	dupAcks        int
	recovery, loss bool
	recover        seqnum.Value
	rtxNext        seqnum.Value // next sequence number to retransmit
	lostEdge       seqnum.Value // holes below this, from rtxNext on, are lost
	sacked         []SACKBlock  // sorted, merged, above sndUna
	highSack       seqnum.Value

	// Round-trip time (RFC 6298).
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	rttTiming         bool
	rttSeq            seqnum.Value
	rttTime           time.Time
	retries           int

	// Timers: zero means not running.
	rtoAt, delackAt, persistAt, keepAt, timeWaitAt, finWait2At time.Time
	persistBackoff                                             int
	keepProbes                                                 int
	unacked                                                    int // segments received and not acknowledged
	lastRecv                                                   time.Time

	stats Stats
	out   Output
}

// Stats counts what happened to a connection; drops are counted, never logged.
type Stats struct {
	SegmentsIn, SegmentsOut int
	Retransmits             int
	FastRetransmits         int
	Timeouts                int
	Dropped                 int
	ChallengeACKs           int
	ZeroWindowProbes        int
	KeepaliveProbes         int
}

// oooSegment is data received beyond RCV.NXT, held for reassembly.
type oooSegment struct {
	seq  seqnum.Value
	data []byte
	fin  bool
}

func (o *oooSegment) end() seqnum.Value {
	e := o.seq.Add(seqnum.Size(len(o.data)))
	return e
}

// New returns a connection in CLOSED between local and remote, created at now (the
// origin of its timestamp clock).
func New(cfg *Config, local, remote netip.AddrPort, now time.Time) *Conn {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Conn{cfg: cfg.withDefaults(), local: local, remote: remote, epoch: now, now: now}
	c.rto = c.cfg.InitialRTO
	c.rcvWScale = c.cfg.WScale
	if c.cfg.NoWindowScale {
		c.rcvWScale = 0
	}
	// RFC 7323 §5.4 suggests a random offset per connection; derive it from the
	// ISN function so runs with a fixed secret repeat.
	c.tsOffset = uint32(ISN(c.cfg.ISNSecret, remote, local, time.Unix(0, 0)))
	return c
}

// NewListening returns a connection in LISTEN for one remote endpoint: what a
// listener clones for each arriving SYN (RFC 9293 §3.10.1, passive OPEN). Feed it
// the SYN with HandleSegment. It emits no event for entering LISTEN, since the
// listener is already there.
func NewListening(cfg *Config, local, remote netip.AddrPort, now time.Time) *Conn {
	c := New(cfg, local, remote, now)
	c.state = Listen
	c.passive = true
	return c
}

// State returns the current state.
func (c *Conn) State() State { return c.state }

// Local and Remote return the connection's endpoints.
func (c *Conn) Local() netip.AddrPort  { return c.local }
func (c *Conn) Remote() netip.AddrPort { return c.remote }

// Err returns why the connection failed (a syscall.Errno such as ECONNREFUSED,
// ECONNRESET or ETIMEDOUT), or nil.
func (c *Conn) Err() error { return c.err }

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats { return c.stats }

// Passive reports whether the connection was created by NewListening.
func (c *Conn) Passive() bool { return c.passive }

// Readable returns how many bytes Read would return now.
func (c *Conn) Readable() int { return len(c.rcvBuf) }

// ReadClosed reports whether the peer's FIN arrived and every byte before it was
// read: further reads return end of file.
func (c *Conn) ReadClosed() bool { return c.rcvFin && len(c.rcvBuf) == 0 }

// WriteSpace returns how many bytes Write would accept now.
func (c *Conn) WriteSpace() int {
	if n := c.cfg.SendBuffer - len(c.sndBuf); n > 0 {
		return n
	}
	return 0
}

// Unacknowledged returns how many bytes of sent or queued data the peer has not yet
// acknowledged.
func (c *Conn) Unacknowledged() int { return len(c.sndBuf) }

// Done reports whether the connection is over: CLOSED, or a passive connection
// that a RST returned to LISTEN.
func (c *Conn) Done() bool {
	return c.state == Closed || c.relistened
}

// SendMSS is the payload size of a full segment on the wire (options excluded):
// what a host gives the kernel as gso_size.
func (c *Conn) SendMSS() int { return c.sendMSS }

// Info is a snapshot of the variables a timeline shows.
type Info struct {
	State                  State
	ISS, IRS               seqnum.Value
	SndUna, SndNxt, RcvNxt seqnum.Value
	SndWnd, RcvWnd         uint32
	Cwnd, Ssthresh         int
	SRTT, RTO              time.Duration
	SendMSS                int
	SndWScale, RcvWScale   uint8
	Timestamps, SACK       bool
}

// Info returns the connection's current variables.
func (c *Conn) Info() Info {
	return Info{State: c.state, ISS: c.iss, IRS: c.irs, SndUna: c.sndUna, SndNxt: c.sndNxt,
		RcvNxt: c.rcvNxt, SndWnd: c.sndWnd, RcvWnd: uint32(c.rcvNxt.Size(c.rcvRight)),
		Cwnd: c.cwnd, Ssthresh: c.ssthresh, SRTT: c.srtt, RTO: c.rto, SendMSS: c.sendMSS,
		SndWScale: c.sndWScale, RcvWScale: c.rcvWScale, Timestamps: c.tsOK, SACK: c.sackOK}
}

func (c *Conn) begin(now time.Time) {
	c.now = now
	c.out.Segments = c.out.Segments[:0]
	c.out.Events = c.out.Events[:0]
}

func (c *Conn) event(k EventKind, cause string) {
	c.out.Events = append(c.out.Events, Event{Time: c.now, Kind: k, From: c.state, To: c.state, Cause: cause})
}

// setState moves to a new state, with an event that says why, and starts or stops
// the timers that belong to states.
func (c *Conn) setState(to State, cause string) {
	from := c.state
	c.state = to
	c.out.Events = append(c.out.Events, Event{Time: c.now, Kind: EventStateChanged, From: from, To: to, Cause: cause})
	switch to {
	case TimeWait:
		c.stopTimers()
		c.timeWaitAt = c.now.Add(c.cfg.TimeWait)
	case Closed:
		c.stopTimers()
		c.sndBuf, c.ooo = nil, nil
	case FinWait2:
		if c.userClosed {
			c.finWait2At = c.now.Add(c.cfg.FinWait2)
		}
	case Established:
		c.lastRecv = c.now
		c.armKeepalive()
	}
}

// fail records the connection's error and closes it.
func (c *Conn) fail(err error, cause string) {
	if c.err == nil {
		c.err = err
	}
	c.out.Events = append(c.out.Events, Event{Time: c.now, Kind: EventError, From: c.state, To: c.state, Err: err, Cause: cause})
	if c.state != Closed {
		c.setState(Closed, cause)
	}
}

func (c *Conn) stopTimers() {
	c.rtoAt, c.delackAt, c.persistAt, c.keepAt, c.timeWaitAt, c.finWait2At = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

// Connect is the active OPEN (RFC 9293 §3.10.1): from CLOSED, or from LISTEN (a SEND
// on a listening connection), send a SYN and enter SYN-SENT.
func (c *Conn) Connect(now time.Time) (Output, error) {
	c.begin(now)
	if c.state != Closed && c.state != Listen {
		return c.out, fmt.Errorf("tcpstate: connect %v → %v in state %v: connection already exists", c.local, c.remote, c.state)
	}
	from := c.state
	c.initSend()
	c.sendSYN(false, "active open")
	if from == Listen {
		c.setState(SynSent, "SEND on a listening connection: snd SYN (RFC 9293 §3.10.2)")
	} else {
		c.setState(SynSent, "active OPEN: snd SYN")
	}
	return c.out, nil
}

// Listen is the passive OPEN: CLOSED → LISTEN.
func (c *Conn) Listen(now time.Time) (Output, error) {
	c.begin(now)
	if c.state != Closed {
		return c.out, fmt.Errorf("tcpstate: listen on %v in state %v: connection already exists", c.local, c.state)
	}
	c.passive = true
	c.setState(Listen, "passive OPEN")
	return c.out, nil
}

func (c *Conn) initSend() {
	c.iss = ISN(c.cfg.ISNSecret, c.local, c.remote, c.now)
	c.sndUna, c.sndNxt = c.iss, c.iss.Add(1)
	c.dataStart = c.iss.Add(1)
	c.rtxNext, c.lostEdge = c.sndUna, c.sndUna
	c.highSack, c.recover = c.sndUna, c.sndUna
	c.rtoAt = c.now.Add(c.rto)
}

// Write queues data for sending and returns how much of p fit in the send buffer
// (RFC 9293 §3.10.2, SEND). Writing after CloseWrite or on a dead connection fails
// with EPIPE.
func (c *Conn) Write(now time.Time, p []byte) (int, Output, error) {
	c.begin(now)
	switch c.state {
	case SynSent, SynReceived, Established, CloseWait:
	default:
		if c.err != nil {
			return 0, c.out, c.err
		}
		return 0, c.out, syscall.EPIPE
	}
	if c.wrShut {
		return 0, c.out, syscall.EPIPE
	}
	n := min(len(p), c.WriteSpace())
	c.sndBuf, c.sndArr = reuseAppend(c.sndBuf, c.sndArr, p[:n])
	c.output()
	return n, c.out, nil
}

// Read copies received in-order data into p (RFC 9293 §3.10.3, RECEIVE) and may
// send a window update when reading opened the window enough (§3.8.6.2.2).
func (c *Conn) Read(now time.Time, p []byte) (int, Output) {
	c.begin(now)
	n := copy(p, c.rcvBuf)
	c.rcvBuf = c.rcvBuf[n:]
	if len(c.rcvBuf) == 0 {
		c.rcvBuf = c.rcvArr[:0]
	}
	if n > 0 && c.state.synchronized() && !c.rcvFin {
		c.maybeWindowUpdate()
	}
	return n, c.out
}

// CloseWrite is a half close (shutdown(SHUT_WR)): a FIN follows the queued data.
// ESTABLISHED → FIN-WAIT-1, CLOSE-WAIT → LAST-ACK, SYN-RECEIVED → FIN-WAIT-1.
func (c *Conn) CloseWrite(now time.Time) Output {
	c.begin(now)
	c.closeWrite()
	return c.out
}

func (c *Conn) closeWrite() {
	if c.wrShut {
		return
	}
	switch c.state {
	case Listen, SynSent:
		c.setState(Closed, "CLOSE before the connection was established: delete TCB")
		return
	case SynReceived:
		c.wrShut = true
		c.setState(FinWait1, "CLOSE in SYN-RECEIVED: snd FIN")
	case Established:
		c.wrShut = true
		c.setState(FinWait1, "CLOSE: snd FIN")
	case CloseWait:
		c.wrShut = true
		c.setState(LastAck, "CLOSE after the peer's FIN: snd FIN")
	default:
		return
	}
	c.output()
}

// Close is the full CLOSE: no more reads or writes. Like Linux's tcp_close, it sends
// a RST instead of a FIN when received data is unread, and later data draws a RST.
func (c *Conn) Close(now time.Time) Output {
	c.begin(now)
	if c.state == Closed || c.userClosed {
		return c.out
	}
	c.userClosed = true
	if len(c.rcvBuf) > 0 && c.state.synchronized() && c.state != TimeWait {
		c.sendReset(fmt.Sprintf("close with %d unread bytes: RST instead of FIN (Linux tcp_close)", len(c.rcvBuf)))
		c.setState(Closed, "close with unread data: RST sent")
		return c.out
	}
	if c.state == FinWait2 {
		c.finWait2At = c.now.Add(c.cfg.FinWait2)
	}
	c.closeWrite()
	return c.out
}

// Abort sends a RST if the peer knows of the connection and enters CLOSED (RFC 9293
// §3.10.5, ABORT; also close with SO_LINGER {1, 0}). Queued data is discarded.
func (c *Conn) Abort(now time.Time, cause string) Output {
	c.begin(now)
	if cause == "" {
		cause = "ABORT"
	}
	switch c.state {
	case SynReceived, Established, FinWait1, FinWait2, CloseWait:
		c.sendReset(cause + ": snd RST")
	}
	c.userClosed = true
	if c.state != Closed {
		if c.err == nil {
			c.err = syscall.ECONNABORTED
		}
		c.setState(Closed, cause)
	}
	return c.out
}

// reuseAppend appends p to buf, a window into arr: when buf's tail is full it first
// slides buf to the front of arr (the bytes before it are consumed) and grows arr
// only when that is not enough, so a steady stream allocates nothing. This writes
// in place, which is why segment payloads stay valid only until the next call.
func reuseAppend(buf, arr, p []byte) ([]byte, []byte) {
	need := len(buf) + len(p)
	if need > cap(buf) {
		if cap(arr) >= need {
			n := copy(arr[:need], buf)
			buf = arr[:n]
		} else {
			grown := make([]byte, len(buf), max(need, 2*cap(arr), 64<<10))
			copy(grown, buf)
			buf, arr = grown, grown[:0]
		}
	}
	return append(buf, p...), arr
}
