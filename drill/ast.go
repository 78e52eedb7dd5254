package drill

import (
	"fmt"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
)

// Pos is a position in a script: 1-based line and column (in bytes).
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Script is a parsed packetdrill script.
type Script struct {
	File    string
	Options []Option // the --name=value lines, in order
	Events  []*Event
}

// Option is one --name[=value] line of a script.
type Option struct {
	Pos   Pos
	Name  string // without the leading "--"
	Value string // "" for a flag without a value
}

// TimeKind says how an event's time is written.
type TimeKind uint8

const (
	TimeNone     TimeKind = iota // no time (a shell line or code block before the first event)
	TimeAbsolute                 // 0.100: from the script start
	TimeRelative                 // +0.100: from the previous event
	TimeAny                      // *: any time, not checked
)

func (k TimeKind) String() string {
	switch k {
	case TimeAbsolute:
		return "absolute"
	case TimeRelative:
		return "relative"
	case TimeAny:
		return "any"
	}
	return "none"
}

// Time is an event's script time: Start, or the range Start~End when Range is set.
type Time struct {
	Kind       TimeKind
	Start, End time.Duration
	Range      bool
}

// EventKind is what an event does.
type EventKind uint8

const (
	EventPacket  EventKind = iota + 1 // a < or > line
	EventSyscall                      // a socket call and its expected result
	EventShell                        // a `command` line
	EventCode                         // a %{ assert … }% block
)

func (k EventKind) String() string {
	switch k {
	case EventPacket:
		return "packet"
	case EventSyscall:
		return "syscall"
	case EventShell:
		return "shell"
	case EventCode:
		return "code"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one line (or block) of a script.
type Event struct {
	Pos    Pos
	Time   Time
	Kind   EventKind
	Packet *Packet
	Call   *Syscall
	Shell  string
	Code   []*Assert
}

// Direction is a packet's direction seen from the stack under test.
type Direction uint8

const (
	Inbound  Direction = iota + 1 // <: pktlab sends it to the stack
	Outbound                      // >: the stack must send it
)

func (d Direction) String() string {
	if d == Inbound {
		return "<"
	}
	return ">"
}

// Proto is the transport of a packet line.
type Proto uint8

const (
	ProtoTCP Proto = iota + 1
	ProtoUDP
	ProtoICMP
)

func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	}
	return fmt.Sprintf("Proto(%d)", uint8(p))
}

// Packet is a < or > line.
type Packet struct {
	Dir   Direction
	Proto Proto
	ECN   string // "", "noecn", "ect0", "ect1", "ce", "ect01"
	TCP   *TCPSpec
	UDP   *UDPSpec
	ICMP  *ICMPSpec
}

// TCPSpec is the TCP part of a packet line. Unset (nil) fields are not checked on
// outbound packets; inbound packets must give a window.
type TCPSpec struct {
	Flags   header.TCPFlags
	Seq     uint32 // script-relative
	Len     uint32 // payload length
	Ack     *uint32
	Win     *uint32
	Urg     *uint32
	Options []TCPOption
	AnyOpts bool // <...>: options are not checked
	NoOpts  bool // no <…> given
}

// flagOf maps packetdrill's flag letters to the control bits (the letters are
// tcpdump's, as header.TCPFlags prints them).
func flagOf(c byte) (header.TCPFlags, bool) {
	switch c {
	case 'S':
		return header.TCPFlagSYN, true
	case 'F':
		return header.TCPFlagFIN, true
	case 'R':
		return header.TCPFlagRST, true
	case 'P':
		return header.TCPFlagPSH, true
	case 'U':
		return header.TCPFlagURG, true
	case 'E':
		return header.TCPFlagECE, true
	case 'W':
		return header.TCPFlagCWR, true
	case '.':
		return header.TCPFlagACK, true
	}
	return 0, false
}

// OptKind is a TCP option kind (IANA "TCP Option Kind Numbers").
type OptKind uint8

const (
	OptEOL       OptKind = 0
	OptNOP       OptKind = 1
	OptMSS       OptKind = 2  // RFC 9293 §3.2
	OptWScale    OptKind = 3  // RFC 7323 §2
	OptSACKOK    OptKind = 4  // RFC 2018
	OptSACK      OptKind = 5  // RFC 2018
	OptTimestamp OptKind = 8  // RFC 7323 §3
	OptFastOpen  OptKind = 34 // RFC 7413
)

// TCPOption is one option of a packet line.
type TCPOption struct {
	Kind   OptKind
	Value  uint32      // mss, wscale
	TSVal  uint32      // TS val
	TSEcr  uint32      // TS ecr
	Blocks [][2]uint32 // sack blocks, script-relative
	Data   []byte      // FO cookie, or an unknown kind's bytes
}

// UDPSpec is a udp line: its payload length.
type UDPSpec struct{ Len uint32 }

// ICMPSpec is an icmp line: type and code names, the MTU of a frag_needed, and the
// TCP segment it quotes (seq:end(len) of the script's connection).
type ICMPSpec struct {
	Type, Code string
	MTU        uint32
	Quoted     *TCPSpec
}

// Syscall is a socket call line: name(args) = ret [ERRNO (text)], and for a blocking
// call the time it must return at (EndSet).
type Syscall struct {
	Name   string
	Args   []*Expr
	Ret    *Expr // an integer, or Ellipsis for any
	Errno  string
	End    time.Duration
	EndSet bool
}

// ExprKind is the kind of a syscall argument.
type ExprKind uint8

const (
	ExprInt      ExprKind = iota + 1 // 3, -1, 0x10
	ExprSymbol                       // AF_INET, O_NONBLOCK
	ExprString                       // "cubic"
	ExprEllipsis                     // ...
	ExprList                         // [1], [{fd=4, events=POLLIN}]
	ExprStruct                       // {onoff=1, linger=0}
	ExprOr                           // O_RDWR|O_NONBLOCK
	ExprCall                         // htons(8080), inet_addr("198.18.0.2")
)

// Expr is a syscall argument or result.
type Expr struct {
	Pos    Pos
	Kind   ExprKind
	Int    int64
	Str    string  // symbol name or string contents
	Elems  []*Expr // list elements, or the operands of |
	Fields []Field // struct fields
}

// Field is name=value in a struct argument.
type Field struct {
	Name  string
	Arg   *Expr // msg_iov(1): the count in parentheses, if any
	Value *Expr
}
