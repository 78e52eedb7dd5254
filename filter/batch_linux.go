//go:build linux

package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// pktlab encodes its own batch instead of using nftables.Conn.AddSet because the
// library always tags anonymous sets with NFTNL_UDATA_SET_KEYBYTEORDER "big endian";
// nft reads that tag when it lists a set, so mark, ifname, ifindex, ct state and numgen
// map keys (host byte order) would be listed wrongly. Rules are written by
// encode_linux.go straight into the batch, their expressions byte for byte as
// google/nftables' expr.Marshal writes them (TestEncodeMatchesLibrary). Message layouts
// follow libnftnl's src/{table,chain,set,set_elem,rule}.c.

// nftaTableUserdata is NFTA_TABLE_USERDATA (include/uapi/linux/netfilter/nf_tables.h),
// missing from x/sys/unix.
const nftaTableUserdata = 6

// ownerMark is the userdata pktlab puts on the tables it creates, so that `pktlab nft
// flush` can remove only those. It is one libnftnl udata TLV of a type nft does not
// know (0xf0); nft skips unknown table udata types when it lists a table (nft's
// src/netlink.c table_parse_udata_cb), so listings are unchanged. The kernel keeps a
// table's userdata from its creation: a table created by nft stays unmarked.
var ownerMark = []byte{0xf0, 6, 'p', 'k', 't', 'l', 'a', 'b'}

// Byte orders as nft stores them in set userdata (nft's include/datatype.h).
const (
	byteorderHost = 1
	byteorderBig  = 2
)

func nftMsg(typ uint16, fam byte, flags netlink.HeaderFlags, attrs []netlink.Attribute) (netlink.Message, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return netlink.Message{}, err
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: netlink.Request | flags},
		Data:   append([]byte{fam, unix.NFNETLINK_V0, 0, 0}, data...),
	}, nil
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func cstr(s string) []byte { return append([]byte(s), 0) }

func nested(typ uint16, attrs []netlink.Attribute) (netlink.Attribute, error) {
	b, err := netlink.MarshalAttributes(attrs)
	return netlink.Attribute{Type: unix.NLA_F_NESTED | typ, Data: b}, err
}

// encodeBatch writes compiled objects as one nftables batch, BATCH_BEGIN to BATCH_END,
// numbering messages from seq. It returns nil for a batch with nothing in it.
func encodeBatch(comp *Compiled, seq uint32) (*batchBuf, error) {
	if !comp.FlushRuleset && len(comp.Tables) == 0 && len(comp.Chains) == 0 && len(comp.Rules) == 0 {
		return nil, nil
	}
	w := newBatchBuf(seq)
	hdr := []byte{0, unix.NFNETLINK_V0}
	hdr = binary.BigEndian.AppendUint16(hdr, unix.NFNL_SUBSYS_NFTABLES)
	w.msg(netlink.Message{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_BEGIN}, Data: hdr})
	if comp.FlushRuleset {
		m, _ := nftMsg(unix.NFT_MSG_DELTABLE, 0, 0, nil)
		w.msg(m)
	}
	for _, t := range comp.Tables {
		m, err := nftMsg(unix.NFT_MSG_NEWTABLE, byte(t.Family), netlink.Create, []netlink.Attribute{
			{Type: unix.NFTA_TABLE_NAME, Data: cstr(t.Name)}, {Type: unix.NFTA_TABLE_FLAGS, Data: be32(0)},
			{Type: nftaTableUserdata, Data: ownerMark},
		})
		if err != nil {
			return nil, err
		}
		w.msg(m)
	}
	for _, c := range comp.Chains {
		m, err := chainMsg(c)
		if err != nil {
			return nil, err
		}
		w.msg(m)
	}
	for _, r := range comp.Rules {
		for _, s := range r.Sets {
			m1, m2, err := setMsgs(s)
			if err != nil {
				return nil, err
			}
			w.msg(m1)
			w.msg(m2)
		}
		if err := w.rule(r.Rule); err != nil {
			return nil, err
		}
	}
	// Like nft, pktlab asks for an acknowledgement only on the last message: the
	// kernel reports every failing message anyway, after processing the whole batch,
	// and then acknowledges the last one (nfnetlink.c nfnetlink_rcv_batch), so the
	// batch costs one reply instead of one per rule.
	w.setLastFlag(netlink.Acknowledge)
	w.msg(netlink.Message{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_END}, Data: hdr})
	return w, nil
}

func chainMsg(c *nftables.Chain) (netlink.Message, error) {
	attrs := []netlink.Attribute{{Type: unix.NFTA_CHAIN_TABLE, Data: cstr(c.Table.Name)}, {Type: unix.NFTA_CHAIN_NAME, Data: cstr(c.Name)}}
	if c.Hooknum != nil {
		hook := []netlink.Attribute{{Type: unix.NFTA_HOOK_HOOKNUM, Data: be32(uint32(*c.Hooknum))},
			{Type: unix.NFTA_HOOK_PRIORITY, Data: be32(uint32(*c.Priority))}}
		if c.Device != "" {
			hook = append(hook, netlink.Attribute{Type: unix.NFTA_HOOK_DEV, Data: cstr(c.Device)})
		}
		h, err := nested(unix.NFTA_CHAIN_HOOK, hook)
		if err != nil {
			return netlink.Message{}, err
		}
		attrs = append(attrs, h, netlink.Attribute{Type: unix.NFTA_CHAIN_TYPE, Data: cstr(string(c.Type))})
		if c.Policy != nil {
			attrs = append(attrs, netlink.Attribute{Type: unix.NFTA_CHAIN_POLICY, Data: be32(uint32(*c.Policy))})
		}
		// Ask the kernel to count the packets that reach the base chain's policy
		// (nf_tables_api.c nft_stats_alloc); `nft list` does not show these.
		ctr, err := nested(unix.NFTA_CHAIN_COUNTERS, []netlink.Attribute{
			{Type: unix.NFTA_COUNTER_BYTES, Data: binary.BigEndian.AppendUint64(nil, 0)},
			{Type: unix.NFTA_COUNTER_PACKETS, Data: binary.BigEndian.AppendUint64(nil, 0)}})
		if err != nil {
			return netlink.Message{}, err
		}
		attrs = append(attrs, ctr)
	}
	return nftMsg(unix.NFT_MSG_NEWCHAIN, byte(c.Table.Family), netlink.Create, attrs)
}

// keyByteorder is the byte order nft records for a set's key: big endian when the
// compiler says so (a big-endian integer field such as icmp id, whose plain integer
// type would otherwise read as host order), else the one of its key type.
func keyByteorder(s *nftables.Set) uint32 {
	if s.KeyByteOrder == binaryutil.BigEndian {
		return byteorderBig
	}
	t := s.KeyType
	switch t.GetNFTMagic() {
	case nftables.TypeMark.GetNFTMagic(), nftables.TypeIFIndex.GetNFTMagic(), nftables.TypeIFName.GetNFTMagic(),
		nftables.TypeCTState.GetNFTMagic(), nftables.TypeInteger.GetNFTMagic():
		if t.Bytes > 1 {
			return byteorderHost
		}
	}
	return byteorderBig
}

func setMsgs(cs CompiledSet) (netlink.Message, netlink.Message, error) {
	s := cs.Set
	fam := byte(s.Table.Family)
	flags := uint32(unix.NFT_SET_ANONYMOUS | unix.NFT_SET_CONSTANT)
	if s.Interval {
		flags |= unix.NFT_SET_INTERVAL
	}
	if s.IsMap {
		flags |= unix.NFT_SET_MAP
	}
	desc, err := nested(unix.NFTA_SET_DESC, []netlink.Attribute{{Type: unix.NFTA_SET_DESC_SIZE, Data: be32(uint32(len(cs.Elems)))}})
	if err != nil {
		return netlink.Message{}, netlink.Message{}, err
	}
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_SET_TABLE, Data: cstr(s.Table.Name)},
		{Type: unix.NFTA_SET_NAME, Data: cstr(s.Name)},
		{Type: unix.NFTA_SET_FLAGS, Data: be32(flags)},
		{Type: unix.NFTA_SET_KEY_TYPE, Data: be32(s.KeyType.GetNFTMagic())},
		{Type: unix.NFTA_SET_KEY_LEN, Data: be32(s.KeyType.Bytes)},
		{Type: unix.NFTA_SET_ID, Data: be32(s.ID)},
	}
	if s.IsMap {
		attrs = append(attrs, netlink.Attribute{Type: unix.NFTA_SET_DATA_TYPE, Data: be32(s.DataType.GetNFTMagic())},
			netlink.Attribute{Type: unix.NFTA_SET_DATA_LEN, Data: be32(s.DataType.Bytes)})
	}
	attrs = append(attrs, desc, netlink.Attribute{Type: unix.NFTA_SET_USERDATA,
		Data: userdata.AppendUint32(nil, userdata.NFTNL_UDATA_SET_KEYBYTEORDER, keyByteorder(s))})
	m1, err := nftMsg(unix.NFT_MSG_NEWSET, fam, netlink.Create, attrs)
	if err != nil {
		return m1, netlink.Message{}, err
	}
	var list []netlink.Attribute
	for _, e := range cs.Elems {
		key, err := nested(unix.NFTA_SET_ELEM_KEY, []netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.Key}})
		if err != nil {
			return m1, netlink.Message{}, err
		}
		item := []netlink.Attribute{key}
		if e.IntervalEnd {
			item = append(item, netlink.Attribute{Type: unix.NFTA_SET_ELEM_FLAGS, Data: be32(unix.NFT_SET_ELEM_INTERVAL_END)})
		}
		if len(e.Val) > 0 {
			val, err := nested(unix.NFTA_SET_ELEM_DATA, []netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: e.Val}})
			if err != nil {
				return m1, netlink.Message{}, err
			}
			item = append(item, val)
		}
		el, err := nested(unix.NFTA_LIST_ELEM, item)
		if err != nil {
			return m1, netlink.Message{}, err
		}
		list = append(list, el)
	}
	elems, err := nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, list)
	if err != nil {
		return m1, netlink.Message{}, err
	}
	m2, err := nftMsg(unix.NFT_MSG_NEWSETELEM, fam, netlink.Create, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstr(s.Table.Name)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstr(s.Name)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET_ID, Data: be32(s.ID)},
		elems,
	})
	return m1, m2, err
}

// sendBatch sends the batch w on a NETLINK_NETFILTER socket inside the namespace fd
// and waits for its acknowledgement. The kernel applies a batch atomically: if any
// message fails, none takes effect.
func sendBatch(fd int, w *batchBuf) error {
	if w == nil {
		return nil
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: fd})
	if err != nil {
		return fmt.Errorf("dial netfilter netlink: %w", err)
	}
	defer conn.Close()
	if err := conn.SetReadBuffer(8 << 20); err != nil {
		return fmt.Errorf("set netlink read buffer: %w", err)
	}
	// A batch is one datagram (nfnetlink processes BATCH_BEGIN…END within one skb),
	// so the send buffer must hold all of it; nft does the same (mnl.c
	// mnl_set_sndbuffer). SO_SNDBUFFORCE lifts net.core.wmem_max for root.
	bufs, size := w.buffers()
	if err := forceSndbuf(conn, 2*size); err != nil {
		return fmt.Errorf("set netlink send buffer to %d bytes: %w", 2*size, err)
	}
	if err := sendRaw(conn, bufs); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	last := w.seq - 2 // the message before BATCH_END, which asked for the ack
	var first error
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return fmt.Errorf("set netlink deadline: %w", err)
	}
	for {
		replies, err := conn.Receive()
		var oe *netlink.OpError
		switch {
		case err != nil && errors.As(err, &oe) && oe.Err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
			// mdlayher/netlink turns an NLMSG_ERROR into an OpError without its
			// sequence number; keep the first and drain what follows briefly.
			if first == nil {
				first = oe
			}
			if errors.Is(oe.Err, syscall.ENOBUFS) {
				return first
			}
			conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			continue
		case err != nil && first != nil:
			return first
		case err != nil:
			return fmt.Errorf("receive batch acknowledgement: %w", err)
		}
		for _, r := range replies {
			if r.Header.Sequence == last {
				return first
			}
		}
	}
}

// chainInfo is what pktlab reads about a chain beyond google/nftables' Chain: the
// netdev device (NFTA_HOOK_DEV, not decoded by the library) and the base chain
// counters (NFTA_CHAIN_COUNTERS).
type chainInfo struct {
	Device         string
	Packets, Bytes uint64
	HasCounters    bool
}

// chainInfos dumps every chain of family fam (0 for all), keyed "family/table/chain".
func chainInfos(fd int, fam byte) (map[string]chainInfo, error) {
	msgs, err := nftDump(fd, unix.NFT_MSG_GETCHAIN, unix.NFT_MSG_NEWCHAIN, fam, 0)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	out := map[string]chainInfo{}
	for _, m := range msgs {
		var table, chain string
		var ci chainInfo
		a := attrs{b: m.Data[4:]}
		for a.next() {
			switch a.typ {
			case unix.NFTA_CHAIN_TABLE:
				table = cString(a.data)
			case unix.NFTA_CHAIN_NAME:
				chain = cString(a.data)
			case unix.NFTA_CHAIN_HOOK:
				ci.Device = cString(attrOf(a.data, unix.NFTA_HOOK_DEV))
			case unix.NFTA_CHAIN_COUNTERS:
				ci.HasCounters = true
				ci.Bytes = getBE64(attrOf(a.data, unix.NFTA_COUNTER_BYTES))
				ci.Packets = getBE64(attrOf(a.data, unix.NFTA_COUNTER_PACKETS))
			}
		}
		if a.bad {
			return nil, fmt.Errorf("decode chain %s of table %s: malformed attribute", chain, table)
		}
		out[fmt.Sprintf("%d/%s/%s", m.Data[0], table, chain)] = ci
	}
	return out, nil
}

func forceSndbuf(conn *netlink.Conn, n int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n)
	}); err != nil {
		return err
	}
	return serr
}

// sendRaw writes one datagram, gathered from bufs, to the kernel on the netlink socket.
func sendRaw(conn *netlink.Conn, bufs [][]byte) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.SendmsgBuffers(int(fd), bufs, nil, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}, 0)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("sendmsg", serr)
}

// ownedTables dumps every table of the namespace and returns those carrying ownerMark.
func ownedTables(fd int) ([]*Table, error) {
	msgs, err := nftDump(fd, unix.NFT_MSG_GETTABLE, unix.NFT_MSG_NEWTABLE, unix.NFPROTO_UNSPEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var out []*Table
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, err
		}
		var name string
		owned := false
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_TABLE_NAME:
				name = ad.String()
			case nftaTableUserdata:
				owned = string(ad.Bytes()) == string(ownerMark)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
		if owned {
			out = append(out, &Table{Family: Family(m.Data[0]), Name: name})
		}
	}
	return out, nil
}
