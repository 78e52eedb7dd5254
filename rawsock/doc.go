// Package rawsock puts frames on and takes them off lab links: packet sockets and raw
// IP sockets inside lab nodes, a frame builder for crafting (with deliberate
// corruption), a zero-allocation decoder, tcpdump-style one-line summaries, verbose and
// hex views, and pcap/pcapng capture files.
//
// Sockets. Open opens a PF_PACKET socket (packet(7), via github.com/mdlayher/packet)
// on one interface of a testlab node: raw (whole frames) or cooked (SOCK_DGRAM, from
// the network header), for one Protocol (ETH_P_ALL, IP, ARP, IPv6 or any EtherType),
// optionally promiscuous through PACKET_ADD_MEMBERSHIP (never IFF_PROMISC) and with a
// classic BPF filter. A drop-all filter is attached before bind(2) and replaced by the
// caller's once the socket is configured, so no frame is queued unfiltered or without
// a timestamp. The socket is created on a thread inside
// the node's network namespace (testlab.Node.Do) and keeps that namespace for life.
// ReadFrame takes a context and a caller's buffer and allocates nothing; Stats returns
// the kernel's received and dropped counts; Close is safe twice. OpenIP opens a raw IP
// socket (IPPROTO_RAW, header included) that sends crafted IPv4/IPv6 packets through
// the node's routing.
//
// Errors are *Error values naming the operation, lab, node and interface, with a hint
// about what to do; they unwrap to the syscall error.
//
// What rawsock must not touch: the host's own network namespace (every socket is
// opened inside a lab node), any interface flag (promiscuity is a socket membership),
// and capture-filter compilation, which belongs to rawsock/capfilter. It never prints.
package rawsock
