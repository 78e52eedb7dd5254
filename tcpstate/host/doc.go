// Package host runs tcpstate's machine on a lab node's interface through a packet
// socket: pktlab's userspace TCP host.
//
// In own-address mode (the default, and what a nil or zero Config means) the host has
// IPv4/IPv6 addresses and a MAC that the node's kernel does not have: those of the
// Config, or by default the node's own host part plus 100 (0x100 for IPv6) in each lab
// subnet of the interface, and a MAC made of 02:70:6b and the address's last three
// bytes. No two hosts of a lab, and no host and kernel, share an address or a MAC:
// Start refuses one in use (ErrAddrInUse), checking every node's interfaces and the
// claims of the other hosts, which are abstract unix sockets bound for the host's life
// in the network namespace of the lab's first node (they go with the process, however
// it ends), and a default moves on to the next free address.
//
// An own-address host answers ARP requests and neighbour solicitations for its
// addresses, replies to ping, resolves its next hop (on-link or through
// the gateway it is given) with its own ARP requests and solicitations, and
// demultiplexes arriving segments to connections and listeners; a segment that
// reaches neither is answered with a RST (RFC 9293 §3.10.7.1). The kernel never sees
// these flows as its own: frames to the host's MAC arrive at the node as
// PACKET_OTHERHOST and the IP stack drops them.
//
// In shared mode the host uses the node's own address and MAC. The kernel then sees
// every segment of the userspace connections and, having no socket for them, would
// answer each with a RST; so the host installs, inside the node only, an nftables
// table of its own (pktlab-tcp-PID-START-SEQ, written through package filter) that
// drops the kernel's outgoing RSTs from the ports the host uses, reports that as an
// Event, and removes that table, and only it, when it closes; the next shared host on
// the node removes the tables of hosts whose process is gone. That is the
// lesson of raw-socket TCP. Since the kernel stays silenced on a port the host has
// used, the host itself answers with a RST a segment for such a port that reaches no
// connection (one closed, or dropped with Conn.Forget).
//
// Sending: by default new data leaves in segments of up to 64 KB written to a
// second, send-only packet socket opened with PACKET_VNET_HDR, and the kernel's GSO
// cuts them into MSS-sized frames on the way out (Config.NoGSO sends one frame per
// segment instead, so that every sent event is a frame on the wire).
//
// Hold and Release make the host a slow reader of its TCP input (segments wait
// unprocessed until Release, ARP and neighbour discovery go on), so that an
// experiment can order what a veth delivers in microseconds, such as two SYNs
// crossing in a simultaneous open.
//
// Time: the host takes every time it gives its machines, its timers, its Conn
// deadlines and its events' stamps from Config.Clock (tcpstate/clock; the wall clock
// by default). Tests run it on a clock.Manual and move time instead of sleeping;
// pktlab tcp --step on a clock.Pausable that stands still while the user is asked. A
// sent frame is stamped as it leaves, not when its segment was made: after a
// BeforeSend pause, and after the wait for its next hop's MAC (a frame that never
// leaves is never reported sent).
//
// Conns satisfy net.Conn (deadlines included) and add CloseWrite, Abort, Forget and
// SetLinger. One goroutine reads frames and one runs timers; both are owned by the
// Host and stop when Close returns. Start's context bounds the start only; Close may
// be called from any goroutine, e.g. on a signal, while others use the host. The host
// never prints: everything it does is an Event given to Config.Events.
//
// What host must not touch: the host machine's network namespace (its sockets, its
// claims and its nftables table live in lab nodes), the node's addresses, routes and
// neighbour table, and any nftables table but its own.
package host
