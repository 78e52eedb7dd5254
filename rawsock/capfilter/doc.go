// Package capfilter compiles tcpdump capture-filter expressions (pcap-filter(7)) to
// classic BPF programs for golang.org/x/net/bpf, in pure Go: no libpcap, no cgo.
//
// The accepted language is the part of pcap-filter(7) that people type every day:
// host, net, port, portrange with src/dst qualifiers, the protocol names ip, ip6,
// arp, rarp, tcp, udp, icmp, icmp6, sctp, igmp, ether host/src/dst/proto/broadcast/
// multicast, vlan, proto N, less/greater/len, byte and flag tests such as
// tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn, and/or/not with parentheses and
// tcpdump's implicit qualifiers ("host 198.18.1.2 or 198.18.1.3").
//
// Compiled programs accept exactly the frames that the program libpcap 1.10 compiles
// for the same expression accepts: the conformance test runs both in the x/net/bpf VM
// over a corpus of frames. That includes libpcap's quirks, which users rely on:
// "and" and "or" have equal precedence and associate left to right; port and
// transport-layer byte tests on IPv4 match first fragments only (fragment offset 0);
// IPv6 port tests read the transport header right after the fixed IPv6 header, so
// they never match past an extension header, while "tcp"/"udp"/"ip6 proto" also look
// through one fragment header; tcp[], udp[] and icmp[] are IPv4 only; "host" with an
// IPv4 address also matches ARP and RARP sender/target addresses; "vlan" shifts the
// offsets of everything that follows it in the expression.
//
// Two link types are supported: LinkTypeEthernet for frames that start with an
// Ethernet header (raw packet sockets, pcap files), and LinkTypeRaw for frames that
// start at the IP header (SOCK_DGRAM "cooked" packet sockets, LINKTYPE_RAW), where the
// IP version comes from the first nibble, as libpcap does for DLT_RAW.
//
// Programs are optimized the way libpcap's are (jump threading, redundant and dead
// load removal), because which loads a program performs decides its verdict on
// frames too short for them: classic BPF rejects a frame on any out-of-bounds load.
// On well-formed frames pktlab and tcpdump always agree; on frames cut short inside
// their headers, complex combinations can still differ (see docs/benchmarks.md).
//
// Not supported, each refused with a *SyntaxError naming the token: host and port
// names (no resolver lookups: write addresses and numbers), gateway, ip/ip6
// broadcast (needs the interface netmask), 802.2 LLC protocols (ether proto <= 1500),
// protochain, mpls, pppoe, geneve, inbound/outbound, ifname and other pflog/802.11
// keywords. On live packet sockets the kernel strips VLAN tags before the filter runs,
// so "vlan" only matches in pcap files or with the tag left in the frame.
//
// Parsing is linear in the length of the expression, and nesting (parentheses, not,
// unary minus, brackets) deeper than MaxDepth levels is refused with a *SyntaxError,
// so no input, however long, makes the parser slow or its recursion deep.
//
// The package owns only the expression language and code generation. It does not
// open sockets or attach filters: rawsock does that with the instructions returned here.
package capfilter
