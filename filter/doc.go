// Package filter speaks nftables inside lab nodes: it parses the common subset of nft's
// own rule language (see docs/nft-subset.md), compiles it to the github.com/google/nftables
// expressions `nft -f` would send for it (the kernel ends up with the ruleset nft would
// create), applies a whole file to a node in one netlink batch, reads tables, chains,
// rules, sets, named counters and quotas and counter values back from the kernel and
// renders them exactly as `nft list ruleset` does (a rule it cannot render exactly is a
// `# pktlab: unsupported` line with its raw expressions, never another rule; named
// sets, other stateful objects and flowtables are marker lines too), validates a file
// without a kernel (Validate), and decodes nftables trace events (NFNLGRP_NFTRACE)
// into typed events grouped per packet.
//
// A text beyond the subset (another family, a delete) goes to nft itself, run by this
// package so that it is the one that writes rules: CheckText runs nft --check in a
// throwaway network namespace of its own thread, and ApplyText applies a checked text
// in a node, compiled here where the subset covers it and with nft -f inside the node
// otherwise.
//
// What filter owns: nftables objects inside lab nodes, and the pktlab trace chain
// (table "pktlab_trace") it adds while tracing. Tables pktlab creates carry a userdata
// mark that nft ignores, so that FlushOwned removes only pktlab's tables.
//
// What it must not touch: the host's own network namespace. Every netlink socket this
// package opens is bound to a lab node's namespace file descriptor; a Conn refuses a
// descriptor <= 0, because google/nftables would otherwise fall back to the namespace of
// the calling thread, which is the host's.
package filter
