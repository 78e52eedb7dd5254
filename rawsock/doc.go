// Package rawsock puts frames on and takes them off lab links: packet sockets and raw
// IP sockets inside lab nodes, a frame builder for crafting (with deliberate
// corruption), a zero-allocation decoder, tcpdump-style one-line summaries, verbose and
// hex views, and pcap/pcapng capture files.
//
// Sockets (Linux). Open opens a PF_PACKET socket (packet(7), via
// github.com/mdlayher/packet) on one interface of a testlab node: raw (whole frames) or
// cooked (Config.Cooked, SOCK_DGRAM: from the network header), for one Protocol
// (ETH_P_ALL, IP, ARP, IPv6 or any EtherType; Protocol.Network gives the htons value
// the kernel takes), optionally promiscuous through PACKET_ADD_MEMBERSHIP (never
// IFF_PROMISC) and with a classic BPF filter. A drop-all filter is attached before
// bind(2) and replaced by the caller's once the socket is configured, so no frame is
// queued unfiltered or without a timestamp. The socket is created on a thread inside
// the node's network namespace (testlab.Node.Do) and keeps that namespace for life.
// Conn.ReadFrame takes a context and a caller's buffer and allocates nothing; with
// Config.Ring frames come through a memory-mapped TPACKET_V3 ring, as in tcpdump,
// instead of one recvmsg(2) each. Rings and receive buffers are kernel memory a user
// sizes, so the sockets of one process together take at most MaxRecvMemory and a
// quarter of MemAvailable (RecvMemoryLimit); Open refuses more, with ErrTooLarge,
// before it creates anything;
// Conn.WriteFrame sends a frame as is; Conn.Stats returns the kernel's received and
// dropped counts since open; Close is safe twice. Capture reads several sockets at
// once and merges their frames in timestamp order. OpenIP opens a raw IP socket
// (IPPROTO_RAW, header included) that sends crafted IPv4/IPv6 packets through the
// node's routing. Only ETH_P_ALL sockets see the node's own outgoing frames.
//
// Crafting. Serialize lays out gopacket layers with correct lengths and checksums and
// then applies a Corruption (bad checksums, wrong lengths, bad data offset, truncated
// option; a broken field other than a checksum keeps its checksum right). OptMSS,
// OptSACK, ICMPFragNeeded, HopByHopRouterAlert and friends build the fields gopacket
// leaves to the caller. CraftSpec describes a whole packet field by field, with its
// TCPOptionSet, and builds it from the IP header on (Packet, for OpenIP) or as an
// Ethernet frame (Frame); `pktlab send` and experiment files both craft through it.
// NeighborMAC reads a node's neighbour table for a frame's destination.
//
// Parsing and printing. Headers are read through rawsock/header, views over the
// frame's bytes in gVisor's header style (one getter per field, lengths checked once).
// Decoder decodes a frame into its rawsock/decode.Headers, a small value that records
// where each header lies in the frame and hands out its view (TCP, IPv4, ARP, …), so
// that the decoded form travels with the frame to the summary, the timeline and the
// matchers and the frame is decoded once. It allocates nothing, never panics, follows
// what gopacket's DecodingLayerParser would over the same layers
// (TestDecodeMatchesGopacket and its fuzz test, in rawsock/decode, hold the headers,
// their bounds and the kind of error to it), and wraps ErrTruncated or ErrMalformed
// (rawsock/header's).
// Summarizer writes `tcpdump -n` lines, with relative TCP sequence numbers per
// connection (docs/summaries.md lists the differences), from a decoded frame
// (AppendHeaders) or from the bytes (Append); AppendVerbose and AppendHex give the -v
// and -x views. FileWriter writes pcapng (one interface block named
// "node:iface" per capture point) or classic pcap, handing its writer whole records
// only, so that a killed capture leaves a file that reads to its last write.
// FileReader reads either format itself (gzip is refused), bounded by the formats'
// limits (256 KiB records in pcap, 16 MiB blocks in pcapng), and reports damage as a
// *FileError with the frame number and byte offset; a damaged pcapng block whose
// framing holds is skipped and reading goes on.
//
// Errors from sockets are *Error values naming the operation, lab, node and
// interface, with a hint about what to do; they unwrap to the syscall error.
//
// What rawsock must not touch: the host's own network namespace (every socket is
// opened inside a lab node), any interface flag (promiscuity is a socket membership),
// capture-filter compilation, which belongs to rawsock/capfilter, and the layout of
// headers, which belongs to rawsock/header. gopacket stays for crafting (Serialize
// lays out its layers), for what follows what (its port and protocol registries) and
// for the names of protocol numbers in the verbose view. It never prints.
package rawsock
