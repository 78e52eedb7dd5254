//go:build linux

package rawsock_test

import (
	"context"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/rawsock"
)

// TestStatsCountDrops overflows a socket with the smallest receive buffer the kernel
// allows: PACKET_STATISTICS must count every frame that passed the filter, and the
// frames read plus the frames dropped must add up to it. A second Stats call keeps
// the totals (the kernel resets its counters on every read).
func TestStatsCountDrops(t *testing.T) {
	lab := labtest.Start(t, twoNodes)
	const burst = 200
	const etherType = 0x88b5
	rx := open(t, lab, "b", "eth0", &rawsock.Config{Protocol: etherType, RecvBuffer: 1})
	tx := open(t, lab, "a", "eth0", &rawsock.Config{Protocol: etherType})
	ifB, err := lab.Node("b").Interface("eth0")
	must(t, err)
	frame, err := rawsock.Serialize(nil, &layers.Ethernet{SrcMAC: macA, DstMAC: ifB.MAC, EthernetType: etherType}, gopacket.Payload(make([]byte, 1000)))
	must(t, err)
	for i := 0; i < burst; i++ {
		must(t, tx.WriteFrame(context.Background(), frame))
	}
	// The kernel counts every frame it queued or dropped for the socket; once that
	// is the burst, every frame is in the queue or counted as dropped.
	var st rawsock.Stats
	labtest.Until(t, "PACKET_STATISTICS to count the burst", func() (bool, error) {
		var err error
		st, err = rx.Stats()
		return err == nil && st.Received >= burst, err
	})
	read := len(readUntil(t, rx, "the frames that were not dropped", func(fs []rawsock.Frame) bool {
		return uint64(len(fs))+st.Dropped >= st.Received
	}))
	if st.Received != burst || st.Dropped == 0 || uint64(read)+st.Dropped != st.Received {
		t.Errorf("sent %d, read %d, stats %+v: want received %d, some dropped, read + dropped = received", burst, read, st, burst)
	}
	st2, err := rx.Stats()
	must(t, err)
	if st2 != st {
		t.Errorf("second Stats = %+v, want the same totals %+v", st2, st)
	}
}
