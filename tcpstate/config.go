package tcpstate

import "time"

// Protocol constants and Linux defaults the Config falls back to.
const (
	DefaultMSS        = 1460                   // RFC 9293 §3.7.1 for a 1500-byte MTU, IPv4
	DefaultSendMSS    = 536                    // RFC 9293 §3.7.1: peer sent no MSS option
	DefaultWScale     = 7                      // Linux's choice for its default buffers
	MaxWScale         = 14                     // RFC 7323 §2.3
	DefaultBuffer     = 4 << 20                // send and receive buffer
	DefaultInitialRTO = time.Second            // RFC 6298 §2.1
	DefaultMinRTO     = 200 * time.Millisecond // Linux TCP_RTO_MIN (RFC 6298 says 1 s)
	DefaultMaxRTO     = 120 * time.Second      // Linux TCP_RTO_MAX
	DefaultTimeWait   = 60 * time.Second       // Linux TCP_TIMEWAIT_LEN
	DefaultFinWait2   = 60 * time.Second       // Linux tcp_fin_timeout
	DefaultDelayedAck = 40 * time.Millisecond  // Linux TCP_DELACK_MIN
	DefaultSynRetries = 6                      // Linux tcp_syn_retries
	DefaultRetries    = 15                     // Linux tcp_retries2
	DefaultKeepIdle   = 7200 * time.Second     // Linux tcp_keepalive_time
	DefaultKeepIntvl  = 75 * time.Second       // Linux tcp_keepalive_intvl
	DefaultKeepCount  = 9                      // Linux tcp_keepalive_probes
	initialCwndSegs   = 10                     // RFC 6928
)

// Config holds a connection's options. The zero value is Linux-like defaults with
// every option on.
type Config struct {
	// MSS is the Maximum Segment Size we advertise and the most we send (MTU − 40
	// for IPv4, − 60 for IPv6); 0 means DefaultMSS.
	MSS uint16
	// NoWindowScale, NoSACK and NoTimestamps leave those options out of our SYN.
	NoWindowScale, NoSACK, NoTimestamps bool
	// WScale is the shift we offer; 0 means DefaultWScale.
	WScale uint8
	// SendBuffer and ReceiveBuffer are the buffer sizes in bytes; 0 means
	// DefaultBuffer.
	SendBuffer, ReceiveBuffer int
	// MaxSegment is the most payload one emitted segment of new data carries; a
	// host that hands segments to the kernel's segmentation offload (GSO) sets it
	// above the MSS (e.g. 64 KB) and the kernel cuts it into MSS-sized segments on
	// the wire. 0 means one MSS. Retransmissions are always one MSS at most.
	MaxSegment int
	// NoDelay turns Nagle's algorithm off (RFC 9293 §3.7.4, TCP_NODELAY).
	NoDelay bool
	// NoDelayedAck acknowledges every segment at once.
	NoDelayedAck bool
	// DelayedAck is the delayed-ACK timeout; 0 means DefaultDelayedAck.
	DelayedAck time.Duration
	// InitialRTO, MinRTO and MaxRTO bound the retransmission timeout (RFC 6298);
	// zero means the defaults.
	InitialRTO, MinRTO, MaxRTO time.Duration
	// SynRetries and Retries are how many times a SYN and data are retransmitted
	// before the connection fails with ETIMEDOUT; 0 means the defaults.
	SynRetries, Retries int
	// TimeWait is the length of TIME-WAIT (2 MSL); 0 means DefaultTimeWait.
	TimeWait time.Duration
	// FinWait2 bounds FIN-WAIT-2 of a closed (not half-closed) connection; 0 means
	// DefaultFinWait2.
	FinWait2 time.Duration
	// Keepalive turns keepalive probes on (RFC 9293 §3.8.4, SO_KEEPALIVE) with
	// KeepIdle, KeepInterval and KeepCount (0 means the Linux defaults).
	Keepalive    bool
	KeepIdle     time.Duration
	KeepInterval time.Duration
	KeepCount    int
	// ISNSecret is the secret key of RFC 6528's ISN function. Hosts fill it from
	// crypto/rand; tests fix it so runs repeat.
	ISNSecret [16]byte
}

func (c *Config) withDefaults() Config {
	d := *c
	def := func(v *time.Duration, x time.Duration) {
		if *v == 0 {
			*v = x
		}
	}
	if d.MSS == 0 {
		d.MSS = DefaultMSS
	}
	if d.WScale == 0 {
		d.WScale = DefaultWScale
	}
	if d.WScale > MaxWScale {
		d.WScale = MaxWScale
	}
	if d.SendBuffer == 0 {
		d.SendBuffer = DefaultBuffer
	}
	if d.ReceiveBuffer == 0 {
		d.ReceiveBuffer = DefaultBuffer
	}
	if d.NoWindowScale && d.ReceiveBuffer > 65535 {
		d.ReceiveBuffer = 65535
	}
	def(&d.DelayedAck, DefaultDelayedAck)
	def(&d.InitialRTO, DefaultInitialRTO)
	def(&d.MinRTO, DefaultMinRTO)
	def(&d.MaxRTO, DefaultMaxRTO)
	def(&d.TimeWait, DefaultTimeWait)
	def(&d.FinWait2, DefaultFinWait2)
	def(&d.KeepIdle, DefaultKeepIdle)
	def(&d.KeepInterval, DefaultKeepIntvl)
	if d.SynRetries == 0 {
		d.SynRetries = DefaultSynRetries
	}
	if d.Retries == 0 {
		d.Retries = DefaultRetries
	}
	if d.KeepCount == 0 {
		d.KeepCount = DefaultKeepCount
	}
	return d
}
