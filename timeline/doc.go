// Package timeline is the one time-ordered record of an experiment: frames captured on
// every link, the socket agent's calls, kernel TCP state changes, assertion notes, and
// (when the filter and tcpstate packages provide them) nftables trace verdicts,
// conntrack events and userspace TCP state changes.
//
// It decodes frames only to annotate and match them (rawsock.Headers, carried in each
// Packet; the summary line is written from the same decoded headers), keeps TCP
// sequence numbers relative per flow as tcpdump does, and renders the record as text
// (tcpdump-style lines tagged by flow, with a frame seen on both ends of one veth shown
// once), as JSON lines, and as pcapng with one interface per captured link and packet
// comments carrying the annotations.
//
// It owns no sockets and runs nothing; it never prints, it writes to the io.Writer it is
// given.
package timeline
