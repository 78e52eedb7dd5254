//go:build linux

package filter

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func mustAttrs(t *testing.T, as []netlink.Attribute) []byte {
	t.Helper()
	b, err := netlink.MarshalAttributes(as)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func u32be(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64be(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// TestObjectsRender: objects decoded from the kernel's NFT_MSG_NEWOBJ attributes are
// listed as nft 1.0.6 lists them (checked against `nft list ruleset` of the same
// declarations), other kinds as marker lines, with nft's blank lines between
// declarations.
func TestObjectsRender(t *testing.T) {
	obj := func(kind ObjectKind, name string, data []netlink.Attribute, ud []byte) []byte {
		as := []netlink.Attribute{{Type: unix.NFTA_OBJ_TABLE, Data: []byte("t\x00")}, {Type: unix.NFTA_OBJ_NAME, Data: []byte(name + "\x00")},
			{Type: unix.NFTA_OBJ_TYPE, Data: u32be(uint32(kind))}, {Type: unix.NLA_F_NESTED | unix.NFTA_OBJ_DATA, Data: mustAttrs(t, data)}}
		if ud != nil {
			as = append(as, netlink.Attribute{Type: nftaObjUserdata, Data: ud})
		}
		return mustAttrs(t, as)
	}
	msgs := [][]byte{
		obj(ObjectCounter, "c", []netlink.Attribute{{Type: unix.NFTA_COUNTER_BYTES, Data: u64be(100)}, {Type: unix.NFTA_COUNTER_PACKETS, Data: u64be(5)}},
			append([]byte{0, 10}, "a counter\x00"...)),
		obj(ObjectQuota, "q", []netlink.Attribute{{Type: unix.NFTA_QUOTA_BYTES, Data: u64be(1 << 20)}, {Type: unix.NFTA_QUOTA_FLAGS, Data: u32be(1)},
			{Type: unix.NFTA_QUOTA_CONSUMED, Data: u64be(1025)}}, nil),
		obj(4, "lim", nil, nil),
		obj(ObjectCounter, "odd", nil, []byte{7, 1, 0}),
	}
	tb := &Table{Family: FamilyINet, Name: "t", Unsupported: []string{"set s (named sets and maps are not in the subset)"},
		Chains: []*Chain{{Name: "c"}}}
	for _, m := range msgs {
		table, o := decodeObject(m)
		if table != "t" {
			t.Fatalf("table %q, want t", table)
		}
		tb.Objects = append(tb.Objects, o)
	}
	var b strings.Builder
	RenderTable(&b, tb, nil)
	want := `table inet t {
	counter c {
		comment "a counter"
		packets 5 bytes 100
	}

	quota q {
		over 1 mbytes used 1025 bytes
	}

	# pktlab: unsupported: limit lim (only counter and quota objects are listed)

	# pktlab: unsupported: counter odd: userdata other than a comment

	# pktlab: unsupported: set s (named sets and maps are not in the subset)

	chain c {
	}
}
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("listing (-want +got):\n%s", diff)
	}
}

func TestByteUnits(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 bytes", 5: "5 bytes", 1536: "1536 bytes", 2048: "2 kbytes",
		1 << 20: "1 mbytes", 3 << 30: "3072 mbytes", 1025 << 10: "1025 kbytes"} {
		if got := byteUnits(n); got != want {
			t.Errorf("byteUnits(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestFlowtableMarker: a flowtable (this kernel has no flowtable support, so none can
// be made in a lab) is one marker line with its hook, priority, devices and flags.
func TestFlowtableMarker(t *testing.T) {
	devs := mustAttrs(t, []netlink.Attribute{{Type: nftaDeviceName, Data: []byte("lo\x00")}, {Type: nftaDeviceName, Data: []byte("eth0\x00")}})
	hook := mustAttrs(t, []netlink.Attribute{{Type: nftaFlowtableHookNum, Data: u32be(0)}, {Type: nftaFlowtableHookPrio, Data: u32be(uint32(0xffffff9c))},
		{Type: unix.NLA_F_NESTED | nftaFlowtableHookDevs, Data: devs}})
	b := mustAttrs(t, []netlink.Attribute{{Type: nftaFlowtableTable, Data: []byte("t\x00")}, {Type: nftaFlowtableName, Data: []byte("f\x00")},
		{Type: unix.NLA_F_NESTED | nftaFlowtableHook, Data: hook}, {Type: nftaFlowtableFlags, Data: u32be(nftaFlowtableFlagsCount)}})
	table, line := describeFlowtable(b)
	want := "flowtable f hook ingress priority -100 devices = { lo, eth0 } counter (flowtables are not in the subset)"
	if table != "t" || line != want {
		t.Errorf("describeFlowtable = %q, %q; want t, %q", table, line, want)
	}
}
