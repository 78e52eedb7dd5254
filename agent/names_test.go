package agent

import (
	"testing"

	"github.com/pktlab/pktlab/internal/enumname/enumtest"
)

func TestEnumNames(t *testing.T) {
	enumtest.Names(t, enumtest.Cases{
		TCP: "tcp", UDP: "udp", Kind(0): "Kind(0)", Kind(3): "Kind(3)", Kind(-1): "Kind(-1)",
		ShutRD: "SHUT_RD", ShutWR: "SHUT_WR", ShutRDWR: "SHUT_RDWR", How(3): "How(3)", How(-2): "How(-2)",
	})
}
