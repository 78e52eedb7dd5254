//go:build linux

package filter

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestVerifierSeesUnknownAttributes: a rule whose expressions hold an attribute
// google/nftables' decoding skips (an unknown type, a second value in a cmp's data) is
// not the rule its decoded statements compile to, with or without the verifier's
// comparison by value, and the plain rule is.
func TestVerifierSeesUnknownAttributes(t *testing.T) {
	nest := func(typ uint16, as ...netlink.Attribute) netlink.Attribute {
		return netlink.Attribute{Type: unix.NLA_F_NESTED | typ, Data: mustAttrs(t, as)}
	}
	leaf := func(typ uint16, b []byte) netlink.Attribute { return netlink.Attribute{Type: typ, Data: b} }
	elem := func(name string, data ...netlink.Attribute) netlink.Attribute {
		return nest(unix.NFTA_LIST_ELEM, leaf(unix.NFTA_EXPR_NAME, []byte(name+"\x00")), nest(unix.NFTA_EXPR_DATA, data...))
	}
	odd := leaf(30, u32be(7)) // no attribute of these expressions has type 30
	rule := func(payloadExtra, cmpDataExtra, metaExtra, verdictExtra []netlink.Attribute) []byte {
		return mustAttrs(t, []netlink.Attribute{
			elem("meta", append([]netlink.Attribute{leaf(unix.NFTA_META_KEY, u32be(unix.NFT_META_L4PROTO)), leaf(unix.NFTA_META_DREG, u32be(1))}, metaExtra...)...),
			elem("cmp", leaf(unix.NFTA_CMP_SREG, u32be(1)), leaf(unix.NFTA_CMP_OP, u32be(unix.NFT_CMP_EQ)),
				nest(unix.NFTA_CMP_DATA, append([]netlink.Attribute{leaf(unix.NFTA_DATA_VALUE, []byte{6})}, cmpDataExtra...)...)),
			elem("payload", append([]netlink.Attribute{leaf(unix.NFTA_PAYLOAD_DREG, u32be(1)), leaf(unix.NFTA_PAYLOAD_BASE, u32be(unix.NFT_PAYLOAD_TRANSPORT_HEADER)),
				leaf(unix.NFTA_PAYLOAD_OFFSET, u32be(2)), leaf(unix.NFTA_PAYLOAD_LEN, u32be(2))}, payloadExtra...)...),
			elem("cmp", leaf(unix.NFTA_CMP_SREG, u32be(1)), leaf(unix.NFTA_CMP_OP, u32be(unix.NFT_CMP_EQ)),
				nest(unix.NFTA_CMP_DATA, leaf(unix.NFTA_DATA_VALUE, []byte{0, 22}))),
			elem("immediate", leaf(unix.NFTA_IMMEDIATE_DREG, u32be(unix.NFT_REG_VERDICT)),
				nest(unix.NFTA_IMMEDIATE_DATA, nest(unix.NFTA_DATA_VERDICT, append([]netlink.Attribute{leaf(unix.NFTA_VERDICT_CODE, u32be(1 /* NF_ACCEPT */))}, verdictExtra...)...))),
		})
	}
	cases := []struct {
		name string
		raw  []byte
		want bool
	}{
		{"plain", rule(nil, nil, nil, nil), true},
		{"payload attribute of an unknown type", rule([]netlink.Attribute{odd}, nil, nil, nil), false},
		{"payload attribute twice", rule([]netlink.Attribute{leaf(unix.NFTA_PAYLOAD_LEN, u32be(2))}, nil, nil, nil), false},
		{"second value in cmp data", rule(nil, []netlink.Attribute{leaf(unix.NFTA_DATA_VALUE, []byte{17})}, nil, nil), false},
		{"meta attribute of an unknown type", rule(nil, nil, []netlink.Attribute{odd}, nil), false},
		{"verdict attribute of an unknown type", rule(nil, nil, nil, []netlink.Attribute{odd}), false},
	}
	for _, byValue := range []bool{true, false} {
		restore := VerifyByValue(byValue)
		for _, tc := range cases {
			var sl slab
			exprs, strict, err := sl.decodeExprs(unix.NFPROTO_IPV4, tc.raw)
			if err != nil {
				t.Fatalf("%s: decode: %v", tc.name, err)
			}
			var v verifier
			r := v.listRule(FamilyIP, dumpedRule{Exprs: exprs, Strict: strict, Raw: tc.raw}, nil, nil)
			got := RenderRule(FamilyIP, r, nil)
			if ok := r.Unsupported == ""; ok != tc.want {
				t.Errorf("by value %v, %s: listed as %q; want it shown as a rule: %v", byValue, tc.name, got, tc.want)
			}
			if tc.want && got != "tcp dport 22 accept" {
				t.Errorf("by value %v, %s: listed as %q, want tcp dport 22 accept", byValue, tc.name, got)
			}
		}
		restore()
	}
}
