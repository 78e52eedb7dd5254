package experiment

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/pktlab/pktlab/internal/yamlpos"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/testlab"
	"gopkg.in/yaml.v3"
)

// Pos is a position in an experiment file.
type Pos = yamlpos.Pos

// File is a parsed, checked experiment.
type File struct {
	Path    string
	Comment string            // the file's opening comment: what to look at and why
	Lab     *testlab.Topology // validated topology
	LabSrc  []byte            // topology text, as given or extracted from the file
	Sysctls []NodeSetting     // in file order
	NFT     []NodeRuleset     // in file order
	Capture []testlab.Endpoint
	Trace   []NodeTrace   // nftables tracing per node
	Timeout time.Duration // whole run; default DefaultTimeout
	Steps   []*Step
	Expect  []*Expect
}

// DefaultTimeout bounds a whole run unless the file says otherwise.
const DefaultTimeout = 2 * time.Minute

// DefaultStepTimeout bounds one blocking step unless it says otherwise.
const DefaultStepTimeout = 10 * time.Second

// NodeSetting is one sysctl on one node.
type NodeSetting struct {
	Node, Key, Value string
	Pos              Pos
}

// NodeRuleset is an nftables ruleset, in nft syntax, for one node.
type NodeRuleset struct {
	Node, Ruleset string
	Pos           Pos
}

// NodeTrace turns on nftables tracing in a node for packets matching Expr (nft match
// statements; "" traces every packet).
type NodeTrace struct {
	Node, Expr string
	Pos        Pos
}

// Action names what a step does.
type Action string

// Step actions.
const (
	ActSocket     Action = "socket"       // open a socket (udp, v6, bind, opts)
	ActListen     Action = "listen"       // open, options, bind addr, listen backlog
	ActConnect    Action = "connect"      // open unless open, options, bind, connect addr
	ActAccept     Action = "accept"       // accept on a listener, naming the new socket "as"
	ActSend       Action = "send"         // send data or size bytes (to: for unconnected UDP)
	ActRecv       Action = "recv"         // receive up to size bytes
	ActShutdown   Action = "shutdown"     // shutdown how: rd|wr|rdwr
	ActClose      Action = "close"        // close
	ActSetsockopt Action = "setsockopt"   // set opts
	ActSockError  Action = "sockerror"    // getsockopt SO_ERROR
	ActEpoll      Action = "epoll"        // epoll_wait in mode edge|level for events
	ActSysctl     Action = "sysctl"       // set sysctls on the node
	ActNFT        Action = "nft"          // apply an nftables ruleset on the node
	ActSleep      Action = "sleep"        // wait a duration
	ActExec       Action = "exec"         // run a program in the node
	ActWait       Action = "wait"         // wait until an expectation holds, or timeout
	ActParallel   Action = "parallel"     // run branches at the same time
	ActCraft      Action = "craft"        // send a crafted IPv4/IPv6 packet (raw IP socket) or frame (via: packet socket)
	ActPktOpen    Action = "packet_open"  // open a packet socket of the file's own on iface
	ActPktClose   Action = "packet_close" // close it (and drop its promiscuous membership)

	// pktlab's userspace TCP (tcpstate/host, shared mode: the node's own address)
	ActUSListen   Action = "us_listen"   // listen on addr's port
	ActUSDial     Action = "us_dial"     // connect to addr (bind: local port), until established or failed
	ActUSAccept   Action = "us_accept"   // accept on a userspace listener, naming the connection "as"
	ActUSSend     Action = "us_send"     // write data or size bytes
	ActUSRecv     Action = "us_recv"     // read up to size bytes
	ActUSShutdown Action = "us_shutdown" // CloseWrite: FIN after queued data
	ActUSClose    Action = "us_close"    // close
	ActUSAbort    Action = "us_abort"    // send RST and forget the connection
	ActUSForget   Action = "us_forget"   // drop the connection's state silently, as a reboot would
	ActUSInput    Action = "us_input"    // hold: queue the node's received segments; release: process them
)

// Step is one thing the experiment does: what every step has, then the arguments of
// its kind of action, each kind its own type. Only the kind's own part is set: a sleep
// has no Socket, a send no Exec, a us_send no Socket.
type Step struct {
	Pos     Pos
	ID      string // for expectations; "" if none given
	Node    string
	Action  Action
	Sock    string // the socket the action works on (the action key's value)
	Timeout time.Duration
	Expect  []*Expect // checked right after the step

	*Socket                   // the socket actions (a kernel socket through the node's agent)
	*Userspace                // the us_ actions (pktlab's userspace TCP)
	*Exec                     // exec
	*PacketOpen               // packet_open
	Craft       *Craft        // craft
	Sysctls     []NodeSetting // sysctl
	Ruleset     string        // nft
	Duration    time.Duration // sleep
	Until       *Expect       // wait
	Branches    [][]*Step     // parallel
}

// Conn is what both kinds of connection step (Socket, Userspace) are given: where to
// listen or connect, what to accept as, what to send, how much to receive.
type Conn struct {
	Addr    netip.AddrPort // listen/connect address
	Bind    netip.AddrPort // explicit bind before connect (socket/connect; us_dial: its port)
	HasBind bool
	Backlog int
	As      string // accept: name of the new socket
	Data    []byte // send
	fill    bool   // send: Data is Size bytes of a pattern, made by payload
	Size    int    // recv: max bytes
}

// Socket is what a socket action (a kernel socket through the node's agent) is given.
type Socket struct {
	Conn
	Nonblock bool
	UDP      bool
	V6       bool
	Opts     []SockOpt
	To       netip.AddrPort // send: the destination of an unconnected UDP socket
	HasTo    bool
	Flags    int    // send/recv flags (MSG_OOB, MSG_WAITALL…)
	How      string // shutdown: rd|wr|rdwr
	Mode     string // epoll: edge|level
	Events   []string
}

// Userspace is what a userspace TCP action (us_…) is given.
type Userspace struct {
	Conn
	TCP   *tcpstate.Config // us_dial, us_listen: the userspace connection's options
	Input string           // us_input: hold or release
}

// conn is the step's Conn, nil for a step that is no connection step.
func (s *Step) conn() *Conn {
	switch {
	case s.Socket != nil:
		return &s.Socket.Conn
	case s.Userspace != nil:
		return &s.Userspace.Conn
	}
	return nil
}

// userspace reports an action of pktlab's userspace TCP (us_…).
func (a Action) userspace() bool { return strings.HasPrefix(string(a), "us_") }

// Exec is a program a step runs in its node.
type Exec struct {
	Argv   []string
	MustOK bool // fail the run when the program fails
}

// PacketOpen is a packet socket of the file's own that a step opens.
type PacketOpen struct {
	Iface      string // the node's interface
	Packet     *PacketConfig
	filterExpr string     // compiled once cooked is known
	filterNode *yaml.Node // where it was written, for errors
}

// MaxStepSize bounds the size of a send or a receive (64 MiB): a file cannot make
// pktlab allocate more than this for one step.
const MaxStepSize = 64 << 20

// payload is what a send step sends: its data, or Size bytes of a..z repeated.
func (s *Conn) payload() []byte {
	if !s.fill {
		return s.Data
	}
	b := make([]byte, s.Size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// step is the step with this id (ids are unique in a file, and every id an
// expectation names exists: Parse checks both), in a parallel group or not.
func (f *File) step(id string) *Step { return findStep(f.Steps, id) }

func findStep(steps []*Step, id string) *Step {
	for _, s := range steps {
		if s.ID == id {
			return s
		}
		for _, b := range s.Branches {
			if found := findStep(b, id); found != nil {
				return found
			}
		}
	}
	return nil
}

// Label names the step for humans: its id, or action and socket.
func (s *Step) Label() string {
	if s.ID != "" {
		return s.ID
	}
	if s.Sock != "" {
		return fmt.Sprintf("%s %s %s", s.Node, s.Action, s.Sock)
	}
	if s.Node != "" {
		return fmt.Sprintf("%s %s", s.Node, s.Action)
	}
	return string(s.Action)
}

// SockOpt is one socket option with its value.
type SockOpt struct {
	Name  string
	Value int
	Text  string // the value of an option that takes a name (congestion: cubic)
}

// ExpectKind names what an expectation checks.
type ExpectKind string

// Expectation kinds.
const (
	ExpFrame   ExpectKind = "frame"     // frames seen (or not) on captured links
	ExpCall    ExpectKind = "call"      // a step's result and errno
	ExpSocket  ExpectKind = "socket"    // kernel TCP sockets in a node (sock_diag)
	ExpTrace   ExpectKind = "trace"     // packets' paths through nftables (trace events)
	ExpUSState ExpectKind = "us_state"  // a userspace TCP connection's state path
	ExpCT      ExpectKind = "conntrack" // entries of a node's conntrack table
	ExpPacket  ExpectKind = "packet"    // frames a packet socket of the file received
	ExpLink    ExpectKind = "link"      // an interface's state (promiscuity)
)

// Expect is one assertion: where it is written, what it shows, and its check, a
// value of the type of its kind.
type Expect struct {
	Pos   Pos
	Desc  string // optional "what this shows"
	Check Check
}

// Kind names what the expectation checks.
func (e *Expect) Kind() ExpectKind { return e.Check.Kind() }

// Check is what one expectation checks, one type per kind: *FrameMatch, *CallMatch,
// *SocketMatch, *TraceMatch, *USStateMatch, *CTMatch, *PacketMatch, *LinkMatch.
type Check interface {
	Kind() ExpectKind
	// check evaluates the expectation against what the run has seen so far: what it
	// wants in words, whether it holds, and what was seen (also on a pass).
	check(ctx context.Context, r *run) (want string, pass bool, seen string)
}

// CTMatch counts a node's conntrack entries whose text (as conntrack -L prints it:
// "tcp 6 119 SYN_SENT src=… dst=… sport=… dport=… src=… dst=… …") contains every
// piece of Has.
type CTMatch struct {
	Node  string
	Has   []string
	Count Exactly
}

// USStateMatch checks a userspace TCP connection's states: the whole path from its
// first state (CLOSED or LISTEN) and/or its state now. Kernel-style (SYN_RECV) and RFC
// (SYN-RECEIVED) spellings are both accepted.
type USStateMatch struct {
	Node, Conn string
	Path       []string
	State      string
}

// TraceMatch counts traced packets (one nftables trace path each) in a node whose
// path has the given hooks, chains, rule verdicts and final verdict. Unset fields
// match anything.
type TraceMatch struct {
	Node     string
	Hooks    []string // e.g. [prerouting, forward, postrouting]
	Chains   []string // chain names in the order met, without repeats
	Verdicts []string // the verdicts of the rule events, in order (continue, drop…)
	Final    string   // accept or drop
	Count    Exactly
}

// FrameMatch selects frames and says how many must be seen. Its fields (frameFields)
// are conditions: a field left out matches anything.
type FrameMatch struct {
	On    *testlab.Endpoint // nil: any link, each frame once
	conds conds

	Quantity
	After  string // step id: only frames from that step's start on
	Before string // step id: only frames before that step's start
	Within time.Duration
	Gaps   []time.Duration // successive gaps between matching frames, each ± Tol
	Tol    float64
	MinGap time.Duration // each matching frame at least this long after the one before
}

// needsAcks reports whether m reads the ack relation: how many data segments of the
// other direction a frame newly acknowledges, and how long after the last of them it
// was seen (delayed ACK, RFC 9293 §3.8.6.3; RFC 1122 §4.2.3.2), on the one interface
// On.
func (m *FrameMatch) needsAcks() bool {
	return hasCond[ackedCond](m.conds) || hasCond[ackDelayCond](m.conds)
}

// distinctISN reports whether the matching frames' absolute sequence numbers must be
// non-zero and all differ.
func (m *FrameMatch) distinctISN() bool { return hasCond[textCond](m.conds) }

// CallMatch checks a step's system call result.
type CallMatch struct {
	Step    string
	Errno   string // "" unset, "0" success, else a name such as ECONNREFUSED
	Ret     *int
	Data    *string
	Info    string // substring of the call's info
	Blocked *bool
}

// SocketMatch checks a node's kernel TCP sockets.
type SocketMatch struct {
	Node     string
	Local    netip.AddrPort
	Remote   netip.AddrPort
	State    string
	Count    Exactly
	MinTimer time.Duration
}

// Exactly is an exact count of matching items; unset, it means at least one.
type Exactly struct {
	n   int
	set bool
}

// exactly is the count n.
func exactly(n int) Exactly { return Exactly{n, true} }

func (c Exactly) holds(n int) bool {
	if !c.set {
		return n > 0
	}
	return n == c.n
}

func (c Exactly) String() string {
	if !c.set {
		return "at least one"
	}
	return fmt.Sprint(c.n)
}

// Quantity is how many matching items an expectation wants: exactly Count if set, at
// least MinCount if set, none, or else at least one.
type Quantity struct {
	Count    Exactly
	MinCount int
	None     bool
}

// holds reports whether n matching items satisfy q.
func (q Quantity) holds(n int) bool {
	switch {
	case q.None:
		return n == 0
	case q.MinCount > 0 && !q.Count.set:
		return n >= q.MinCount
	}
	return q.Count.holds(n)
}

// phrase says q of what (a noun phrase without its article) where.
func (q Quantity) phrase(what, where string) string {
	switch {
	case q.None:
		return "no " + what + " " + where
	case q.Count.set:
		return fmt.Sprintf("exactly %d × %s %s", q.Count.n, what, where)
	case q.MinCount > 0:
		return fmt.Sprintf("at least %d × %s %s", q.MinCount, what, where)
	}
	return "a " + what + " " + where
}
