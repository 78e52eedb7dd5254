package filter

import (
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		TraceRule: "rule", TraceReturn: "return", TracePolicy: "policy", TraceType(0): "tracetype(0)", TraceType(4): "tracetype(4)",
		FamilyIP: "ip", FamilyIP6: "ip6", FamilyINet: "inet", FamilyNetdev: "netdev", familyARP: "arp", familyBridge: "bridge",
		Family(0): "family(0)", Family(4): "family(4)", Family(11): "family(11)", Family(255): "family(255)",
	})
	// Only the subset's families parse; arp and bridge are names for listing only.
	for _, f := range []Family{FamilyIP, FamilyIP6, FamilyINet, FamilyNetdev} {
		if got, ok := parseFamily(f.String()); got != f || !ok {
			t.Errorf("parseFamily(%q) = %v, %v; want %v, true", f.String(), got, ok, f)
		}
	}
	for _, s := range []string{"arp", "bridge", "", "family(0)"} {
		if f, ok := parseFamily(s); ok {
			t.Errorf("parseFamily(%q) = %v, true; want false", s, f)
		}
	}
}
