package ktrace

// The record a program writes into the ring buffer: one fixed-size layout for every
// tracepoint, so that the programs are one generator and the decoder one function.
// Kernel structs are copied as bytes (sock_common, the packet's headers) and
// picked apart in userspace with the same BTF offsets the programs were built with.
const (
	recTime      = 0  // u64: bpf_ktime_get_tai_ns (or bpf_ktime_get_ns, see clock)
	recNetNS     = 8  // u32: the network namespace's inode (ns.inum)
	recKind      = 12 // u8: which tracepoint (kind*)
	recCA        = 13 // u8: the byte of inet_connection_sock that holds icsk_ca_state
	recSkProto   = 14 // u16: sock.sk_protocol (inet_sock_set_state only)
	recArg1      = 16 // u64: the tracepoint's scalar argument (state, err, reason, ca_state)
	recArg2      = 24 // u64: a second scalar (newstate; kfree_skb's location)
	recSport     = 32 // be16: inet_sock.inet_sport, full sockets only
	recHaveSport = 34 // u8: 1 when inet_sport was copied
	recSK        = 40 // u64: the socket's kernel address, the socket's identity
	recSock      = 48 // struct sock_common, the first scLen bytes
	recSockLen   = 104
	recCBSeq     = 152 // u32: TCP_SKB_CB(skb)->seq
	recCBEndSeq  = 156 // u32: TCP_SKB_CB(skb)->end_seq
	recCBFlags   = 160 // u16: TCP_SKB_CB(skb)->tcp_flags (the header's flags, AE in bit 8)
	recNetHdr    = 162 // u16: skb->network_header (offset from skb->head; 0xffff unset)
	recTransHdr  = 164 // u16: skb->transport_header
	recSkbProto  = 166 // u16: skb->protocol (big-endian ethertype)
	recSkbLen    = 168 // u32: skb->len
	recHaveSock  = 172 // u8: 1 when sock_common was copied
	recHaveSkb   = 173 // u8: 1 when the skb fields were copied
	recHaveHdr   = 174 // u8: 1 when the packet's headers were copied
	recHaveTCP   = 175 // u8: 1 when the tcp_sock fields were copied
	recHdr       = 176 // the packet from its network header on, recHdrLen bytes
	recHdrLen    = 80  // a 60-byte IPv4 header and a 20-byte TCP header, or IPv6's 40 and TCP's 40
	recTCP       = 256 // tcp_sock fields, u32 each, in the order of tcpFields
	recSize      = 296
)

// Record kinds, one per tracepoint.
const (
	kindState uint8 = iota + 1
	kindRetransmit
	kindSynAckRetransmit
	kindResetSent
	kindResetReceived
	kindProbe
	kindCongState
	kindDestroy
	kindDrop
)

// Counter slots of the per-CPU stats array.
const (
	statLost    = 0 // bpf_ringbuf_reserve failed: an event the ring had no room for
	statEmitted = 1 // records submitted
	statRescued = 2 // events a backup program took because its primary was busy
	statBusy    = 3 // the first primary's busy mark; progSpecs[i]'s is statBusy+i
)
