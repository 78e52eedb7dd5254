// Package nat sets up network address translation in lab nodes and shows what the
// kernel's connection tracking made of it.
//
// NAT rules are nftables rules: the helpers here (SNAT, DNAT, Masquerade, Redirect,
// LoadBalance) write them in nft syntax and apply them through the filter package, so
// what a helper does is exactly what the same text applied with `pktlab nft apply`
// does. Conntrack entries of a node are listed and flushed through the
// vishvananda/netlink conntrack API and watched through the ctnetlink multicast groups.
//
// What nat owns: the "pktlab_nat" table (or the table the caller names) in lab nodes,
// and reading or flushing lab nodes' conntrack tables.
//
// What it must not touch: the host's namespace. Every netlink handle is opened at a lab
// node's namespace file descriptor, and a descriptor <= 0 is refused.
package nat
