package testlab

import (
	"slices"
	"strings"
)

// sysctlTree is the set of net.* sysctls a lab node has, as paths under /proc/sys/net
// ("ipv4/tcp_sack"). The kernel decides which exist: some are registered only in the
// host's namespace (net.core.netdev_max_backlog, net.ipv4.tcp_mem: see
// net/core/sysctl_net_core.c and net/ipv4/sysctl_net_ipv4.c), others only once their
// module is loaded (net.netfilter.nf_conntrack_*, net.bridge.*).
type sysctlTree struct {
	// lab is the tree of a new network namespace when the process could create one
	// (probed), and otherwise the tree of the caller's own (the host's) namespace.
	lab    map[string]bool
	host   map[string]bool // the host's tree, when lab was probed
	probed bool
}

// perDevice are the directories of /proc/sys/net with one entry per device, besides
// "all" and "default"; a lab interface's entry has the same files as loopback's.
var perDevice = [][2]string{{"ipv4", "conf"}, {"ipv6", "conf"}, {"ipv4", "neigh"}, {"ipv6", "neigh"}}

// checkSysctl says why key cannot be set in node n, or "" if it can (or if the tree
// cannot be read, as off Linux).
func checkSysctl(n *NodeSpec, key string) string {
	tree := netSysctls()
	if tree == nil {
		return ""
	}
	rel := strings.Split(strings.TrimPrefix(key, "net."), ".")
	var path string
	if len(rel) >= 4 && slices.Contains(perDevice, [2]string{rel[0], rel[1]}) {
		// Interface names may hold dots (eth0.100), so the device is everything
		// between the directory and the last component.
		dev, leaf := strings.Join(rel[2:len(rel)-1], "."), rel[len(rel)-1]
		look := dev
		switch {
		case dev == "all" || dev == "default" || dev == "lo":
		case n.Interface(dev) != nil || (n.Kind == KindBridge && dev == BridgeName):
			// The node's own devices do not exist yet (nor on the host); loopback,
			// which every namespace has, has the same per-device files.
			look = "lo"
		default:
			return "names device " + dev + ", which node " + n.Name + " does not have (its interfaces: " + ifaceNames(n) + "; or all, default, lo)"
		}
		path = rel[0] + "/" + rel[1] + "/" + look + "/" + leaf
	} else {
		path = strings.Join(rel, "/")
	}
	if tree.lab[path] {
		return ""
	}
	if tree.probed && tree.host[path] {
		return "exists only in the host's network namespace (the kernel does not make it per namespace), so a lab node cannot set it"
	}
	where := "in a new network namespace"
	if !tree.probed {
		where = "on this host"
	}
	return "does not exist " + where + " (no /proc/sys/net/" + path + "; if a module provides it, it is not loaded)"
}

func ifaceNames(n *NodeSpec) string {
	s := make([]string, len(n.Interfaces))
	for i, x := range n.Interfaces {
		s[i] = x.Name
	}
	if n.Kind == KindBridge {
		s = append(s, BridgeName)
	}
	return strings.Join(s, ", ")
}
