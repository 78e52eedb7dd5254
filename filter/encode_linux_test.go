//go:build linux

package filter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// libraryBatch is the batch as pktlab encoded it before it wrote expressions itself:
// every expression marshalled by google/nftables' expr.Marshal, every message a
// netlink.Message, laid out one after the other. It is the reference encodeBatch must
// match byte for byte.
func libraryBatch(t testing.TB, comp *Compiled, seq uint32) []byte {
	t.Helper()
	hdr := []byte{0, unix.NFNETLINK_V0}
	hdr = binary.BigEndian.AppendUint16(hdr, unix.NFNL_SUBSYS_NFTABLES)
	msgs := []netlink.Message{{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_BEGIN, Flags: netlink.Request}, Data: hdr}}
	add := func(m netlink.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if comp.FlushRuleset {
		add(nftMsg(unix.NFT_MSG_DELTABLE, 0, 0, nil))
	}
	for _, tb := range comp.Tables {
		add(nftMsg(unix.NFT_MSG_NEWTABLE, byte(tb.Family), netlink.Create, []netlink.Attribute{
			{Type: unix.NFTA_TABLE_NAME, Data: cstr(tb.Name)}, {Type: unix.NFTA_TABLE_FLAGS, Data: be32(0)},
			{Type: nftaTableUserdata, Data: ownerMark},
		}))
	}
	for _, c := range comp.Chains {
		add(chainMsg(c))
	}
	for _, r := range comp.Rules {
		for _, s := range r.Sets {
			m1, m2, err := setMsgs(s)
			add(m1, err)
			add(m2, err)
		}
		add(libraryRuleMsg(r.Rule))
	}
	msgs[len(msgs)-1].Header.Flags |= netlink.Acknowledge
	msgs = append(msgs, netlink.Message{Header: netlink.Header{Type: unix.NFNL_MSG_BATCH_END, Flags: netlink.Request}, Data: hdr})
	var out []byte
	for i, m := range msgs {
		m.Header.Length = uint32(16 + len(m.Data))
		m.Header.Sequence = seq + uint32(i)
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func libraryRuleMsg(r *nftables.Rule) (netlink.Message, error) {
	fam := byte(r.Table.Family)
	var list []netlink.Attribute
	for _, e := range r.Exprs {
		eb, err := expr.Marshal(fam, e)
		if err != nil {
			return netlink.Message{}, err
		}
		list = append(list, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: eb})
	}
	exprs, err := netlink.MarshalAttributes(list)
	if err != nil {
		return netlink.Message{}, err
	}
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(r.Table.Name)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstr(r.Chain.Name)},
		{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: exprs},
	})
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWRULE), Flags: netlink.Request | netlink.Create | netlink.Append},
		Data:   append([]byte{fam, unix.NFNETLINK_V0, 0, 0}, attrs...),
	}, err
}

// checkEncoding compiles src and compares encodeBatch's chunks, joined, with
// libraryBatch. It reports whether src compiled.
func checkEncoding(t *testing.T, name string, src []byte) bool {
	t.Helper()
	rs, err := Parse(name, src, testIfs)
	if err != nil {
		return false
	}
	comp, err := Compile(rs)
	if err != nil {
		return false
	}
	const seq = 0x7ffffff0 // wraps past 2^31 within the larger batches
	w, err := encodeBatch(comp, seq)
	if err != nil {
		t.Fatalf("%s: encodeBatch: %v", name, err)
	}
	if w == nil {
		if len(comp.Tables) != 0 || comp.FlushRuleset {
			t.Fatalf("%s: no batch for %d tables", name, len(comp.Tables))
		}
		return true
	}
	want := libraryBatch(t, comp, seq)
	bufs, size := w.buffers()
	got := bytes.Join(bufs, nil)
	if size != len(got) {
		t.Errorf("%s: buffers() size %d, chunks hold %d bytes", name, size, len(got))
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		lo := max(i-32, 0)
		t.Fatalf("%s: batch differs from google/nftables' encoding at byte %d of %d (library: %d bytes)\ngot  % x\nwant % x",
			name, i, len(got), len(want), got[lo:min(i+32, len(got))], want[lo:min(i+32, len(want))])
	}
	return true
}

// TestEncodeMatchesLibrary: for every file of the conformance corpus, for the 10 000-rule
// file of bench/nft.sh (a batch of many chunks), and for rules using every expression
// type pktlab writes itself in each of its forms, the batch pktlab sends is byte for
// byte the batch built with google/nftables' expression marshalling.
func TestEncodeMatchesLibrary(t *testing.T) {
	files, _ := filepath.Glob("testdata/conformance/*.nft")
	if len(files) < 40 {
		t.Fatalf("conformance corpus has %d files, want at least 40", len(files))
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !checkEncoding(t, f, src) {
			t.Errorf("%s does not compile", f)
		}
	}
	if !checkEncoding(t, "10k", rules10k()) {
		t.Fatal("10k rules do not compile")
	}
	var mixed strings.Builder
	mixed.WriteString("flush ruleset\ntable ip6 t6 {\n\tchain sub {\n\t\treturn\n\t}\n\tchain c {\n\t\ttype filter hook forward priority 0; policy drop;\n")
	for i := 0; i < 4000; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&mixed, "\t\tip6 saddr 2001:db8::%x udp dport != %d counter packets %d bytes %d jump sub\n", i, i+1, i, 7*i)
		case 1:
			fmt.Fprintf(&mixed, "\t\tiifname \"eth0\" meta mark set 0x%x tcp flags syn goto sub\n", i)
		case 2:
			fmt.Fprintf(&mixed, "\t\ttcp dport { %d, %d } ip6 daddr 2001:db8::/64 drop\n", i+1, i+2)
		case 3:
			fmt.Fprintf(&mixed, "\t\tudp sport != { %d-%d } log prefix \"r%d \" accept\n", i+1, i+9, i)
		default:
			mixed.WriteString("\t\tct state established,related meta nftrace set 1 accept\n")
		}
	}
	mixed.WriteString("\t}\n}\n")
	if !checkEncoding(t, "mixed", []byte(mixed.String())) {
		t.Fatal("mixed rules do not compile")
	}
}

// FuzzEncodeMatchesLibrary: whatever parses and compiles is encoded as google/nftables
// encodes it.
func FuzzEncodeMatchesLibrary(f *testing.F) {
	files, _ := filepath.Glob("testdata/conformance/*.nft")
	for _, file := range files {
		src, _ := os.ReadFile(file)
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkEncoding(t, "fuzz.nft", src)
	})
}
