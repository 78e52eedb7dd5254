package drill

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The options a script line (--name=value) or the command line may set.
var optionDocs = map[string]string{
	"tolerance_usecs":   "timing tolerance in µs (default 4000)",
	"tolerance_percent": "timing tolerance as a percentage of the interval (default 12.5)",
	"ip_version":        "ipv4, ipv6 or ipv4-mapped-ipv6 (default ipv4)",
	"mss":               "MSS of the path (default 1460): the tun device's MTU is mss + 40 (+60 for IPv6)",
	"mtu":               "MTU of the tun device (default: from --mss, so 1500 for IPv4, 1520 for IPv6)",
	"local_ip":          "the stack's address (default 198.18.0.1, 2001:db8::1)",
	"remote_ip":         "pktlab's address (default 198.18.0.2, 2001:db8::2)",
	"bind_port":         "the port `...` in bind and connect means (default 8080)",
	"wire_port":         "unused; accepted for packetdrill compatibility",
	"non_fatal":         "packet: header, option and timing mismatches become warnings",
	"tcp_ts_tick_usecs": "check outbound TS val against the clock at this tick (default 0: off)",
	"strict_segments":   "do not aggregate consecutive outbound segments",
	"init_rtt_usecs":    "accepted and ignored",
	"speed":             "accepted and ignored",
	"verbose":           "accepted and ignored",
}

func knownOption(name string) bool { _, ok := optionDocs[name]; return ok }

func optionNames() []string {
	var n []string
	for k := range optionDocs {
		n = append(n, "--"+k)
	}
	slices.Sort(n)
	return n
}

// Config is what a script's options (and the command line) set for a run.
type Config struct {
	Tolerance        time.Duration
	TolerancePercent float64
	IPVersion        string // "ipv4", "ipv6", "ipv4-mapped-ipv6"
	MSS              int    // the path's MSS; the tun MTU is MSS + the IP and TCP headers
	MTU              int    // 0: from MSS
	LocalIP          string
	RemoteIP         string
	BindPort         uint16
	NonFatalPacket   bool
	TSTick           time.Duration
	StrictSegments   bool
}

// DefaultConfig is packetdrill's defaults, with lab addresses.
func DefaultConfig() Config {
	return Config{
		Tolerance:        4 * time.Millisecond,
		TolerancePercent: 12.5,
		IPVersion:        "ipv4",
		MSS:              1460,
		BindPort:         8080,
	}
}

// Apply sets the options of o on c, in order; a bad value is an *Error at its position.
func (c *Config) Apply(opts []Option) error {
	for _, o := range opts {
		if !knownOption(o.Name) {
			return &Error{Pos: o.Pos, Msg: fmt.Sprintf("unknown option --%s (supported: %s)", o.Name, strings.Join(optionNames(), ", "))}
		}
		if err := c.set(o.Name, o.Value); err != nil {
			return &Error{Pos: o.Pos, Msg: fmt.Sprintf("--%s=%s: %v", o.Name, o.Value, err)}
		}
	}
	return nil
}

func (c *Config) set(name, v string) error {
	num := func(lo, hi int64) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
		}
		return n, nil
	}
	var err error
	var n int64
	switch name {
	case "tolerance_usecs":
		n, err = num(0, 60_000_000)
		c.Tolerance = time.Duration(n) * time.Microsecond
	case "tolerance_percent":
		var f float64
		f, err = strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 100 {
			err = fmt.Errorf("want a percentage from 0 to 100")
		}
		c.TolerancePercent = f
	case "ip_version":
		if v != "ipv4" && v != "ipv6" && v != "ipv4-mapped-ipv6" {
			err = fmt.Errorf("want ipv4, ipv6 or ipv4-mapped-ipv6")
		}
		c.IPVersion = v
	case "mss":
		n, err = num(88, 65475)
		c.MSS = int(n)
	case "mtu":
		n, err = num(1280, 65535)
		c.MTU = int(n)
	case "local_ip":
		c.LocalIP = v
	case "remote_ip":
		c.RemoteIP = v
	case "bind_port":
		n, err = num(1, 65535)
		c.BindPort = uint16(n)
	case "non_fatal":
		if v != "packet" {
			err = fmt.Errorf("only --non_fatal=packet is supported")
		}
		c.NonFatalPacket = true
	case "tcp_ts_tick_usecs":
		n, err = num(0, 1_000_000)
		c.TSTick = time.Duration(n) * time.Microsecond
	case "strict_segments":
		c.StrictSegments = true
	}
	return err
}
