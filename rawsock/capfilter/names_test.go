package capfilter

import (
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		LinkTypeEthernet: "Ethernet", LinkTypeRaw: "raw IP", LinkType(0): "LinkType(0)", LinkType(228): "LinkType(228)",
		LinkType(-1): "LinkType(-1)",
	})
}
