// Package tcpstate is pktlab's userspace TCP: a pure, deterministic state machine for
// one connection (RFC 9293) and, in tcpstate/host, a driver that runs it on a lab
// node's interface through a packet socket.
//
// The machine has no sockets, no goroutines and no clock of its own. Every entry point
// takes the current time and returns an Output: the segments to put on the wire and
// the events that explain them. Timers are deadlines the caller asks for
// (Conn.NextDeadline) and fires (Conn.OnTimer). Given the same inputs and the same
// Config.ISNSecret it produces the same outputs, which is what lets its tests run on a
// manual clock over an in-memory link.
//
// What it implements: all eleven states and segment arrival in the order of checks of
// RFC 9293 §3.10.7; active, passive and simultaneous open; simultaneous close;
// half-close; abort; RST for segments that reach no connection (§3.10.7.1, Reset);
// RFC 5961 challenge ACKs for in-window RSTs and SYNs and its ACK acceptability test;
// ISNs per RFC 6528; MSS, window scale, timestamps with PAWS (RFC 7323); SACK-permitted
// and SACK blocks, sent for out-of-order data and used to choose retransmissions
// (RFC 2018, RFC 6675 in spirit); retransmission timeout per RFC 6298 (Karn's
// algorithm, exponential backoff, configurable minimum); NewReno congestion control
// (RFC 5681, RFC 6582); delayed ACK; Nagle (switchable); persist timer with
// zero-window probes; keepalive; out-of-order reassembly; TIME-WAIT of configurable
// length.
//
// The states and the transitions of RFC 9293 Figure 5, as this package makes them
// (each arrow is a StateChanged event whose Cause names the segment or call):
//
//	                            +---------+ ---------\      active OPEN
//	                            |  CLOSED |            \    -----------
//	                            +---------+<---------\   \   create TCB
//	                              |     ^              \   \  snd SYN
//	                 passive OPEN |     |   CLOSE        \   \
//	                 ------------ |     | ----------       \   \
//	                  create TCB  |     | delete TCB         \   \
//	                              V     |                      \   \
//	          rcv RST (note 1)  +---------+            CLOSE    |    \
//	       -------------------->|  LISTEN |          ---------- |     |
//	      /                     +---------+          delete TCB |     |
//	     /           rcv SYN      |     |     SEND              |     |
//	    /           -----------   |     |    -------            |     V
//	+--------+      snd SYN,ACK  /       \   snd SYN          +--------+
//	|        |<-----------------           ------------------>|        |
//	|  SYN   |                    rcv SYN                     |  SYN   |
//	|  RCVD  |<-----------------------------------------------|  SENT  |
//	|        |                  snd SYN,ACK                   |        |
//	|        |------------------           -------------------|        |
//	+--------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +--------+
//	   |         --------------   |     |   -----------
//	   |                x         |     |     snd ACK
//	   |                          V     V
//	   |  CLOSE                 +---------+
//	   | -------                |  ESTAB  |
//	   | snd FIN                +---------+
//	   |                 CLOSE    |     |    rcv FIN
//	   V                -------   |     |    -------
//	+---------+         snd FIN  /       \   snd ACK         +---------+
//	|  FIN    |<----------------          ------------------>|  CLOSE  |
//	| WAIT-1  |------------------                            |   WAIT  |
//	+---------+          rcv FIN  \                          +---------+
//	  | rcv ACK of FIN   -------   |                          CLOSE  |
//	  | --------------   snd ACK   |                         ------- |
//	  V        x                   V                         snd FIN V
//	+---------+               +---------+                    +---------+
//	|FINWAIT-2|               | CLOSING |                    | LAST-ACK|
//	+---------+               +---------+                    +---------+
//	  |              rcv ACK of FIN |                 rcv ACK of FIN |
//	  |  rcv FIN     -------------- |    Timeout=2MSL -------------- |
//	  |  -------            x       V    ------------        x       V
//	   \ snd ACK              +---------+delete TCB          +---------+
//	     -------------------->|TIME-WAIT|------------------->| CLOSED  |
//	                          +---------+                    +---------+
//
// note 1: a RST in SYN-RECEIVED returns a passively opened connection to LISTEN
// (§3.10.7.4); the host then discards that connection, because its listener is a
// separate object. Besides the arrows, any state goes to CLOSED on Abort, on a RST
// accepted by §3.10.7.4 and on a timeout (retransmissions, keepalive, FIN-WAIT-2).
//
// Linux is the reference where RFC 9293 leaves room: close with unread data and
// linger-0 close send RST (net/ipv4/tcp.c tcp_close), data arriving after close draws
// RST (tcp_rcv_state_process), a SYN-ACK crossing ours in SYN-RECEIVED completes a
// simultaneous open (tcp_validate_incoming), and TIME-WAIT lasts 60 s by default
// (TCP_TIMEWAIT_LEN).
//
// Not implemented (yet): urgent data (URG and the urgent pointer are ignored), ECN,
// RFC 5961 §7's challenge-ACK rate limit, RFC 6675's DupThresh test for declaring a
// hole lost (during recovery every hole below the highest SACKed byte is resent),
// pacing, and data carried on a SYN or SYN-ACK (it is dropped and retransmitted by the
// peer).
//
// What tcpstate must not touch: sockets, the network, goroutines and the wall clock
// (all of that lives in tcpstate/host), and anything outside its own connection.
// It never prints.
package tcpstate
