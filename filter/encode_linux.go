//go:build linux

package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A batch is written straight into a few large chunks and handed to the kernel with one
// sendmsg whose iovec points at them (nft does the same with its batch pages, libmnl's
// mnl_nlmsg_batch): no per-rule buffers, no copy into one contiguous buffer. For a
// short-lived process on a virtual machine, where a page fault costs microseconds, the
// memory a batch touches is a large part of its cost.

// batchChunk is a chunk's capacity. A message is never split across chunks: a new
// chunk starts when the current one may not hold another message of maxMsg bytes, the
// most a message can hold whose attributes' 16-bit lengths do not overflow.
const (
	batchChunk = 256 << 10
	maxMsg     = 64 << 10
)

type batchBuf struct {
	chunks [][]byte // sealed chunks
	cur    []byte
	seq    uint32 // sequence number of the next message
	// last message begun: its chunk (len(chunks) when in cur) and offset.
	lastChunk, lastOff int
	size               int // bytes in sealed chunks
}

func newBatchBuf(seq uint32) *batchBuf {
	return &batchBuf{cur: make([]byte, 0, batchChunk), seq: seq}
}

// begin appends a netlink message header (struct nlmsghdr, length patched by end) and
// returns the message's offset in cur.
func (w *batchBuf) begin(typ uint16, flags netlink.HeaderFlags) int {
	if len(w.cur) > batchChunk-maxMsg {
		w.chunks = append(w.chunks, w.cur)
		w.size += len(w.cur)
		w.cur = make([]byte, 0, batchChunk)
	}
	start := len(w.cur)
	w.lastChunk, w.lastOff = len(w.chunks), start
	w.cur = binary.NativeEndian.AppendUint32(w.cur, 0)
	w.cur = binary.NativeEndian.AppendUint16(w.cur, typ)
	w.cur = binary.NativeEndian.AppendUint16(w.cur, uint16(netlink.Request|flags))
	w.cur = binary.NativeEndian.AppendUint32(w.cur, w.seq)
	w.cur = binary.NativeEndian.AppendUint32(w.cur, 0) // port id: the kernel's
	w.seq++
	return start
}

// end patches the length of the message begun at start and pads it to 4 bytes.
func (w *batchBuf) end(start int) {
	binary.NativeEndian.PutUint32(w.cur[start:], uint32(len(w.cur)-start))
	w.cur = pad4(w.cur)
}

// msg appends a message built as a netlink.Message.
func (w *batchBuf) msg(m netlink.Message) {
	start := w.begin(uint16(m.Header.Type), m.Header.Flags&^netlink.Request)
	w.cur = append(w.cur, m.Data...)
	w.end(start)
}

// setLastFlag adds flag to the last message begun.
func (w *batchBuf) setLastFlag(flag netlink.HeaderFlags) {
	b := w.cur
	if w.lastChunk < len(w.chunks) {
		b = w.chunks[w.lastChunk]
	}
	f := binary.NativeEndian.Uint16(b[w.lastOff+6:])
	binary.NativeEndian.PutUint16(b[w.lastOff+6:], f|uint16(flag))
}

// buffers returns the batch's chunks in order and its total length.
func (w *batchBuf) buffers() ([][]byte, int) {
	return append(w.chunks, w.cur), w.size + len(w.cur)
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Attribute writers: each appends one struct nlattr. A leaf's length excludes its
// padding, a nest's includes its children's, as netlink.MarshalAttributes writes them.

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	return pad4(append(b, data...))
}

func appendStrAttr(b []byte, typ uint16, s string) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(s)+1))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, s...)
	return pad4(append(b, 0))
}

func appendBE32Attr(b []byte, typ uint16, v uint32) []byte {
	b = binary.NativeEndian.AppendUint16(b, 8)
	b = binary.NativeEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint32(b, v)
}

func appendBE64Attr(b []byte, typ uint16, v uint64) []byte {
	b = binary.NativeEndian.AppendUint16(b, 12)
	b = binary.NativeEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint64(b, v)
}

// beginNest appends a nested attribute's header; endNest patches its length.
func beginNest(b []byte, typ uint16) ([]byte, int) {
	return binary.NativeEndian.AppendUint16(append(b, 0, 0), unix.NLA_F_NESTED|typ), len(b)
}

func endNest(b []byte, start int) []byte {
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	return b
}

// rule appends a NFT_MSG_NEWRULE message for r (libnftnl's src/rule.c layout: table,
// chain, expressions).
func (w *batchBuf) rule(r *nftables.Rule) error {
	fam := byte(r.Table.Family)
	start := w.begin(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append)
	b := append(w.cur, fam, unix.NFNETLINK_V0, 0, 0)
	b = appendStrAttr(b, unix.NFTA_RULE_TABLE, r.Table.Name)
	b = appendStrAttr(b, unix.NFTA_RULE_CHAIN, r.Chain.Name)
	b, exprs := beginNest(b, unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range r.Exprs {
		var err error
		if b, err = appendExpr(b, fam, e); err != nil {
			w.cur = b
			return err
		}
	}
	w.cur = endNest(b, exprs)
	w.end(start)
	return nil
}

// appendExpr appends one expression as an NFTA_LIST_ELEM. The expressions of common
// rules (payload, cmp, meta, counter, verdict, immediate, lookup) are written here, one
// function per type, byte for byte what google/nftables' expr.Marshal writes for them
// (TestEncodeMatchesLibrary); every other type goes through expr.Marshal.
func appendExpr(b []byte, fam byte, e expr.Any) ([]byte, error) {
	b, elem := beginNest(b, unix.NFTA_LIST_ELEM)
	switch e := e.(type) {
	case *expr.Payload:
		b = appendPayload(b, e)
	case *expr.Cmp:
		b = appendCmp(b, e)
	case *expr.Meta:
		b = appendMeta(b, e)
	case *expr.Counter:
		b = appendCounter(b, e)
	case *expr.Verdict:
		b = appendVerdict(b, e)
	case *expr.Immediate:
		b = appendImmediate(b, e)
	case *expr.Lookup:
		b = appendLookup(b, e)
	default:
		eb, err := expr.Marshal(fam, e)
		if err != nil {
			return b, fmt.Errorf("encode %T: %w", e, err)
		}
		b = append(b, eb...)
	}
	return endNest(b, elem), nil
}

// beginExprData appends an expression's name and begins its NFTA_EXPR_DATA nest, which
// the caller ends with endNest.
func beginExprData(b []byte, name string) ([]byte, int) {
	return beginNest(appendStrAttr(b, unix.NFTA_EXPR_NAME, name), unix.NFTA_EXPR_DATA)
}

func appendPayload(b []byte, e *expr.Payload) []byte {
	b, data := beginExprData(b, "payload")
	if e.OperationType == expr.PayloadWrite {
		b = appendBE32Attr(b, unix.NFTA_PAYLOAD_SREG, e.SourceRegister)
	} else {
		b = appendBE32Attr(b, unix.NFTA_PAYLOAD_DREG, e.DestRegister)
	}
	b = appendBE32Attr(b, unix.NFTA_PAYLOAD_BASE, uint32(e.Base))
	b = appendBE32Attr(b, unix.NFTA_PAYLOAD_OFFSET, e.Offset)
	b = appendBE32Attr(b, unix.NFTA_PAYLOAD_LEN, e.Len)
	if e.CsumType > 0 {
		b = appendBE32Attr(b, unix.NFTA_PAYLOAD_CSUM_TYPE, uint32(e.CsumType))
		b = appendBE32Attr(b, unix.NFTA_PAYLOAD_CSUM_OFFSET, e.CsumOffset)
		if e.CsumFlags > 0 {
			b = appendBE32Attr(b, unix.NFTA_PAYLOAD_CSUM_FLAGS, e.CsumFlags)
		}
	}
	return endNest(b, data)
}

func appendCmp(b []byte, e *expr.Cmp) []byte {
	b, data := beginExprData(b, "cmp")
	b = appendBE32Attr(b, unix.NFTA_CMP_SREG, e.Register)
	b = appendBE32Attr(b, unix.NFTA_CMP_OP, uint32(e.Op))
	b, v := beginNest(b, unix.NFTA_CMP_DATA)
	return endNest(endNest(appendAttr(b, unix.NFTA_DATA_VALUE, e.Data), v), data)
}

func appendMeta(b []byte, e *expr.Meta) []byte {
	b, data := beginExprData(b, "meta")
	b = appendBE32Attr(b, unix.NFTA_META_KEY, uint32(e.Key))
	reg := uint16(unix.NFTA_META_DREG)
	if e.SourceRegister {
		reg = unix.NFTA_META_SREG
	}
	return endNest(appendBE32Attr(b, reg, e.Register), data)
}

func appendCounter(b []byte, e *expr.Counter) []byte {
	b, data := beginExprData(b, "counter")
	b = appendBE64Attr(b, unix.NFTA_COUNTER_BYTES, e.Bytes)
	return endNest(appendBE64Attr(b, unix.NFTA_COUNTER_PACKETS, e.Packets), data)
}

// appendImmediate writes an immediate loading a value into a register.
func appendImmediate(b []byte, e *expr.Immediate) []byte {
	b, data := beginExprData(b, "immediate")
	b = appendBE32Attr(b, unix.NFTA_IMMEDIATE_DREG, e.Register)
	b, imm := beginNest(b, unix.NFTA_IMMEDIATE_DATA)
	return endNest(endNest(appendAttr(b, unix.NFTA_DATA_VALUE, e.Data), imm), data)
}

// appendVerdict writes a verdict as google/nftables does: an immediate into the
// verdict register whose data is an NFTA_DATA_VERDICT nest.
func appendVerdict(b []byte, e *expr.Verdict) []byte {
	b, data := beginExprData(b, "immediate")
	b = appendBE32Attr(b, unix.NFTA_IMMEDIATE_DREG, unix.NFT_REG_VERDICT)
	b, imm := beginNest(b, unix.NFTA_IMMEDIATE_DATA)
	b, v := beginNest(b, unix.NFTA_DATA_VERDICT)
	b = appendBE32Attr(b, unix.NFTA_VERDICT_CODE, uint32(e.Kind))
	if e.Chain != "" {
		b = appendStrAttr(b, unix.NFTA_VERDICT_CHAIN, e.Chain)
	}
	return endNest(endNest(endNest(b, v), imm), data)
}

func appendLookup(b []byte, e *expr.Lookup) []byte {
	b, data := beginExprData(b, "lookup")
	if e.SourceRegister != 0 {
		b = appendBE32Attr(b, unix.NFTA_LOOKUP_SREG, e.SourceRegister)
	}
	if e.IsDestRegSet {
		b = appendBE32Attr(b, unix.NFTA_LOOKUP_DREG, e.DestRegister)
	}
	if e.Invert {
		b = appendBE32Attr(b, unix.NFTA_LOOKUP_FLAGS, unix.NFT_LOOKUP_F_INV)
	}
	b = appendStrAttr(b, unix.NFTA_LOOKUP_SET, e.SetName)
	return endNest(appendBE32Attr(b, unix.NFTA_LOOKUP_SET_ID, e.SetID), data)
}
