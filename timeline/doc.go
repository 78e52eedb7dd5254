// Package timeline is the one time-ordered, typed record of a run: frames captured on
// every link, socket calls, kernel and userspace TCP state changes, nftables trace
// verdicts, conntrack events, experiment steps, notes, expectation outcomes, and the
// kernel's own TCP events (retransmissions, resets, drops with their reason,
// congestion samples). Each event carries one typed record (Data: *Frame, *Call,
// *KernelState, …); nothing in an event is text that a reader would have to parse.
//
// Producers (experiment's captures and watchers, pktlab tcp's userspace host, the
// kernel tracer) add events; readers (the text, JSON-lines and pcapng renderers here,
// experiment's expectations, reports) read them back with Events, Frames and Select.
// A frame arrives decoded and summarized (Captured), in its capture's buffers; the
// timeline copies its bytes and line into chunks of its own (no allocation per frame:
// a run records every frame of every link), assigns its flow and sequence numbers
// relative per flow as tcpdump does, and pairs the two copies of a frame on one veth
// (the sender's and the receiver's capture) by their content, so that each frame on a
// link is shown and counted once whatever order and however late the copies arrive;
// the second copy shares the first's bytes and fields. What is text (a frame's TCP
// options as tcpdump writes them) is rendered when it is read, not kept. It marks a frame a node forwards with other addresses as a NAT
// rewrite, finding the copy that came in the same way: by what NAT leaves alone, not
// by a time window.
//
// It renders the record as text (tcpdump-style lines tagged by flow, then an index of
// the flows), as JSON lines in the one versioned schema every pktlab command writes
// (Record, docs/json.md), and as pcapng with one interface per captured link and
// packet comments carrying the annotations (its own small writer: gopacket's pcapgo
// imports golang.org/x/sys/unix).
//
// It owns no sockets and runs nothing; it never prints, it writes to the io.Writer it
// is given; it imports no system-call package (no agent, sockdiag, rawsock, x/sys/unix:
// TestNoSyscallPackages), so that anything reading a record can run anywhere. The
// call record type (Call) lives here for that reason; package agent aliases it.
package timeline
