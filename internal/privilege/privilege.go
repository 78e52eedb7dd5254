// Package privilege checks that the process holds the capabilities pktlab needs
// (CAP_NET_ADMIN to create namespaces, links and nftables rules; CAP_NET_RAW for
// packet sockets; CAP_SYS_ADMIN to create and mount network namespaces) and says
// plainly which one is missing.
package privilege

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Capabilities pktlab needs, in the order they are reported.
var needed = []struct {
	bit  uint
	name string
}{
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"},
	{unix.CAP_NET_RAW, "CAP_NET_RAW"},
	{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
}

// Check returns nil when the effective capability set holds every capability pktlab
// needs, and otherwise an error naming the missing ones and how to get them.
func Check() error {
	missing := Missing()
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("pktlab needs %s (missing from this process): run it as root, e.g. sudo pktlab …", strings.Join(missing, ", "))
}

// Missing lists the needed capabilities that the effective set lacks.
func Missing() []string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN (capget failed: " + err.Error() + ")"}
	}
	var out []string
	for _, c := range needed {
		if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
			out = append(out, c.name)
		}
	}
	return out
}
