// Package testlab builds labs: network namespaces joined by veth links, with
// addresses, routes, forwarding and sysctls, described by a YAML topology.
//
// A lab named "nat" with a node "client" lives in the namespace pktlab-nat-client,
// bind-mounted under /run/netns so that `ip netns exec pktlab-nat-client …` works, and
// its state is kept in /run/pktlab/nat.json so that another pktlab process can Open it.
// Node names hold no '-', so a namespace name gives back its lab and node (LabOf). The
// state names the lab's creator (pid and start time) and whether it holds the lab, so
// that DownAll removes only what dead processes left (see Status).
// Like `ip netns add`, Start first makes /run/netns a shared mount point, so that the
// two tools mount namespaces into the same place.
//
// What testlab owns: parsing and validating topologies (within Limits), creating and
// removing namespaces, veth pairs, bridges, addresses, routes and per-node sysctls
// (IPv6 is turned off on interfaces with no IPv6 address), and running code or
// programs inside a node.
//
// What it must not touch: the host's own network namespace. Veth pairs are created
// from a netlink handle inside the first node's namespace with the peer placed directly
// into the second node's namespace, so no lab link ever exists in the host namespace,
// even for an instant. Sysctls are written only from a thread inside the node. Only
// addresses from 198.18.0.0/15 and 2001:db8::/32 are accepted, and only "net." sysctls,
// since only those are per namespace.
package testlab
