package testlab

import (
	"fmt"
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, map[fmt.Stringer]string{
		StatusUp: "up", StatusInUse: "in use", StatusCreating: "creating", StatusOrphaned: "orphaned", StatusBroken: "broken",
		Status(5): "Status(5)", Status(-1): "Status(-1)",
		KindHost: "host", KindBridge: "bridge", NodeKind(2): "NodeKind(2)", NodeKind(-1): "NodeKind(-1)",
	})
}
