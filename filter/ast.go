package filter

import (
	"fmt"

	"github.com/pktlab/pktlab/rawsock/header"
)

// Pos is a position in a rules file: 1-based line and column.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	f := p.File
	if f == "" {
		f = "<input>"
	}
	return fmt.Sprintf("%s:%d:%d", f, p.Line, p.Col)
}

// Ruleset is a parsed rules file or a ruleset read back from a node: tables in order.
type Ruleset struct {
	// FlushRuleset is set when the file starts with `flush ruleset`: applying it first
	// removes every table in the node.
	FlushRuleset bool
	Tables       []*Table
}

// Table is one nftables table.
type Table struct {
	Family Family
	Name   string
	Chains []*Chain
	// Objects are the table's named counters, quotas and other stateful objects, read
	// back from a node.
	Objects []*Object
	// Unsupported lists what a table read back from a node holds that pktlab does not
	// list (named sets and maps, flowtables), one line each.
	Unsupported []string
	Pos         Pos
}

// Chain is a base chain (Base != nil) or a regular chain.
type Chain struct {
	Name  string
	Base  *BaseChain
	Rules []*Rule
	// Packets and Bytes count the packets that reached a base chain's policy (the
	// kernel's base chain stats, nf_tables_core.c nft_update_chain_stats), kept when
	// the chain was created by pktlab, which asks for them; HasCounters says whether
	// the kernel keeps them.
	Packets, Bytes uint64
	HasCounters    bool
	// Unsupported says why a base chain read back from a node cannot be declared
	// as nft lists it (the base chain of a bridge or arp table); it is listed as a
	// marker line instead of the type line.
	Unsupported string
	Pos         Pos
}

// BaseChain is what makes a chain hook into the stack: `type T hook H [device D]
// priority P; [policy X;]`.
type BaseChain struct {
	Type     ChainType
	Hook     Hook
	Device   string
	Priority int32
	// Policy is nil when the file gave none; the kernel then uses accept.
	Policy *Policy
}

// Rule is a list of statements; matches come first by convention but nft allows any
// order and so does pktlab.
type Rule struct {
	Stmts []Stmt
	// Handle is the kernel's rule handle (0 for a parsed rule).
	Handle uint64
	// Unsupported is set on a rule read back from the kernel that pktlab cannot show
	// exactly as nft would (expressions outside the subset, or ones that do not
	// compile back to what the kernel holds); it says why, Raw holds the kernel's
	// expressions as text, and Stmts is empty.
	Unsupported string
	Raw         string
	// Comment is the rule's `comment "…"` (nft keeps it in the rule's userdata).
	Comment string
	Pos     Pos
}

// Stmt is one match or statement of a rule. The concrete types are the *Match… and
// statement types of this package.
type Stmt interface{ stmt() }

// Op is a relational operator of a match.
type Op uint8

// Operators of the subset. OpImplicit is the bare form: equality for values, "any bit
// set" for the bitmask types (ct state, tcp flags).
const (
	OpImplicit Op = iota
	OpEq
	OpNeq
)

func (o Op) String() string {
	switch o {
	case OpEq:
		return "=="
	case OpNeq:
		return "!="
	}
	return ""
}

// Elem is one element of a value: a single value, a prefix (Prefix > 0) or a closed
// range From-To. Bytes are in register order (what the kernel compares).
type Elem struct {
	From, To []byte
	Prefix   int
}

// Value is the right-hand side of a match: one element or an anonymous set.
type Value struct {
	Set   bool
	Elems []Elem
}

// Match compares a packet field (meta, payload or ct) with a value.
type Match struct {
	Field *Field
	Op    Op
	Value Value
}

// MatchTCPFlags is `tcp flags …`: with Mask 0 and OpImplicit it matches when any of
// Flags is set; with OpEq/OpNeq and no Mask it compares the whole byte; with a Mask it
// compares (flags & Mask) with Flags (nft prints that as `tcp flags F / M`).
type MatchTCPFlags struct {
	Op    Op
	Flags header.TCPFlags
	Mask  header.TCPFlags
}

// MatchNumgen is `numgen inc|random mod N [!=] V`.
type MatchNumgen struct {
	Mode  uint32
	Mod   uint32
	Op    Op
	Value uint32
}

// Counter is the `counter` statement; Packets and Bytes are read back from the kernel.
type Counter struct{ Packets, Bytes uint64 }

// Log is `log [prefix "…"] [group N]`.
type Log struct {
	Prefix   string
	HasGroup bool
	Group    uint16
}

// MetaSet is `meta mark set N` or `meta nftrace set 1`.
type MetaSet struct {
	Key   string // "mark" or "nftrace"
	Value uint32
}

// VerdictKind is a rule's verdict.
type VerdictKind uint8

// Verdicts of the subset.
const (
	VerdictAccept VerdictKind = iota + 1
	VerdictDrop
	VerdictJump
	VerdictGoto
	VerdictReturn
)

func (v VerdictKind) String() string {
	return [...]string{"", "accept", "drop", "jump", "goto", "return"}[v]
}

// Verdict ends evaluation (accept, drop, return) or moves to another chain.
type Verdict struct {
	Kind  VerdictKind
	Chain string
}

// Reject is `reject [with tcp reset | icmp type C | icmpv6 type C | icmpx type C]`.
// Type is NFT_REJECT_*; Proto says which ICMP family a code belongs to ("icmp",
// "icmpv6", "icmpx", "" for tcp reset).
type Reject struct {
	Type  uint32
	Proto string
	Code  uint8
}

// NAT is `snat|dnat [ip|ip6] to ADDR[:PORT]` or `dnat to numgen inc mod N map { … }`.
type NAT struct {
	Kind string // "snat" or "dnat"
	// Family is the address family written after the keyword (required in inet tables).
	Family Family
	// Explicit records that the family was written (`snat ip to`), as nft prints it in
	// inet tables.
	Explicit bool
	Addr     []byte
	Port     uint16
	Map      *NumgenMap
}

// NumgenMap is `numgen inc|random mod N map { K : ADDR, … }` as a NAT address.
type NumgenMap struct {
	Mode  uint32
	Mod   uint32
	Elems []MapElem
}

// MapElem is one key : address pair of a NumgenMap.
type MapElem struct {
	Key  uint32
	Addr []byte
}

// Masquerade is `masquerade`.
type Masquerade struct{}

// Redirect is `redirect [to :PORT]`.
type Redirect struct{ Port uint16 }

// Notrack is `notrack`.
type Notrack struct{}

// PayloadSet is a header field rewrite: `ip ttl set N`, `ip6 hoplimit set N`,
// `tcp|udp sport|dport set P`. Value is in register order, Field.dt.size() bytes. Like a
// match on the same field it needs its protocol dependency (nft adds `meta nfproto ipv4`
// before `ip ttl set` in inet tables: without it the kernel would rewrite bytes 8-9 of
// IPv6 headers too).
type PayloadSet struct {
	Field *Field
	Value []byte
}

func (*Match) stmt()         {}
func (*MatchTCPFlags) stmt() {}
func (*MatchNumgen) stmt()   {}
func (*Counter) stmt()       {}
func (*Log) stmt()           {}
func (*MetaSet) stmt()       {}
func (*Verdict) stmt()       {}
func (*Reject) stmt()        {}
func (*NAT) stmt()           {}
func (*Masquerade) stmt()    {}
func (*Redirect) stmt()      {}
func (*Notrack) stmt()       {}
func (*PayloadSet) stmt()    {}

// IsTerminal reports a statement that ends a rule's evaluation: a verdict, reject,
// snat, dnat, masquerade or redirect (nft's STMT_F_TERMINAL statements of the subset).
// nft refuses any statement after one ("Statement after terminal statement has no
// effect", nft's src/evaluate.c rule_evaluate), and so does pktlab.
func IsTerminal(s Stmt) bool {
	switch s.(type) {
	case *Verdict, *Reject, *NAT, *Masquerade, *Redirect:
		return true
	}
	return false
}

// Table returns the table with family f and name, or nil.
func (rs *Ruleset) Table(f Family, name string) *Table {
	for _, t := range rs.Tables {
		if t.Family == f && t.Name == name {
			return t
		}
	}
	return nil
}

// Chain returns the chain of t named name, or nil.
func (t *Table) Chain(name string) *Chain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}
