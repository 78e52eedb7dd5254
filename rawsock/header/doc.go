// Package header reads network headers in place, in the style of gVisor's
// pkg/tcpip/header: each header is a view over the frame's bytes (type TCP []byte),
// with one getter per field, named after the field of the RFC that defines it, and
// no copy of anything.
//
// A view is made by its Parse function (ParseEthernet, ParseIPv4, ParseTCP, …),
// which checks once that the bytes hold the whole fixed header and that the lengths
// the header gives (IHL, data offset, extension header lengths) fit; the getters then
// read their field without checking again. Parse returns ErrTruncated (bytes cut
// short) or ErrMalformed (fields that contradict each other) otherwise, wrapped in a
// *Error naming the header. A view over bytes that were not checked (a plain
// conversion, TCP(b)) is the caller's responsibility: its getters index the slice and
// panic when it is too short, as gVisor's do.
//
// The protocol numbers and flags the views return are typed constants with a
// String method: EtherType, IPProtocol, TCPFlags, TCPOptionKind, ICMPv4Type,
// ICMPv4Code, ICMPv6Type, ARPOp. TCPFlags is the one type of a TCP flag set in
// pktlab: tcpstate, filter, the timeline and rawsock's summaries all use it.
//
// What header owns: the layout of the headers and the checks of their lengths.
// What it must not do: allocate (no getter allocates), print, render text for a
// user beyond the constants' names, or decide what a frame means (which headers
// follow which is rawsock.Decoder's job; tcpdump-style lines are rawsock.Summarizer's).
// It imports nothing outside the standard library.
package header
