package host

import (
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		EventTCP: "tcp", EventNeighbor: "neighbor", EventPing: "ping", EventFirewall: "firewall", EventError: "error",
		EventKind(0): "EventKind(0)", EventKind(6): "EventKind(6)", EventKind(255): "EventKind(255)",
	})
}
