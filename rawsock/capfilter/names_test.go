package capfilter

import (
	"fmt"
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, map[fmt.Stringer]string{
		LinkTypeEthernet: "Ethernet", LinkTypeRaw: "raw IP", LinkType(0): "LinkType(0)", LinkType(228): "LinkType(228)",
		LinkType(-1): "LinkType(-1)",
	})
}
