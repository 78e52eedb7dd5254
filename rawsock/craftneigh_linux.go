//go:build linux

package rawsock

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pktlab/pktlab/testlab"
	"github.com/vishvananda/netlink"
)

// NeighborMAC returns the MAC that node n's neighbour table holds for dst on
// interface iface, the destination of a crafted frame sent to dst on that link. An
// entry that failed or is still being resolved does not count.
func NeighborMAC(n *testlab.Node, iface string, dst netip.Addr) (net.HardwareAddr, error) {
	it, err := n.Interface(iface)
	if err != nil {
		return nil, err
	}
	h, err := n.Handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	family := netlink.FAMILY_V4
	if dst.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := h.NeighList(it.Index, family)
	if err != nil {
		return nil, fmt.Errorf("rawsock: neighbour table of %s: %w", n.Name(), err)
	}
	for _, e := range neighs {
		if len(e.HardwareAddr) != 6 || e.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
			continue
		}
		if a, ok := netip.AddrFromSlice(e.IP); ok && a.Unmap() == dst {
			return e.HardwareAddr, nil
		}
	}
	return nil, fmt.Errorf("rawsock: %s:%s has no neighbour entry for %v", n.Name(), iface, dst)
}
