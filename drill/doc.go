// Package drill runs packetdrill scripts: it parses packetdrill's language (times,
// socket calls with their results, inbound and outbound TCP, UDP and ICMP packets,
// shell lines and one-line TCP_INFO asserts) and plays a script against a TCP stack,
// checking every outbound packet field by field, every call's result and every
// event's timing, and stopping at the first mismatch with packetdrill's style of
// message ("x.pkt:17: error handling packet: bad outbound TCP flags: expected: S.
// actual: S").
//
// Two stacks can be the script's local side. Kernel: the Linux kernel of a fresh lab
// node (package testlab); drill plays the remote host through a tun device inside the
// node, as packetdrill does (reading what the kernel sends, with the kernel's
// timestamps, from a packet socket on it), and makes the script's socket calls from
// a thread in the node. The calls are drill's own rather than package agent's:
// agent's sockets are named and always O_NONBLOCK, with blocking emulated by poll,
// while a script numbers its descriptors, reads their flags back (F_GETFL) and
// expects a blocking call to block in the kernel. Userspace: pktlab's own TCP machine (package tcpstate) on a manual clock, its
// calls mapped onto the machine's connection API, so one script runs on both and the
// two runs can be compared event by event (Compare).
//
// Semantics follow packetdrill's documented behaviour (sequence numbers relative to
// each side's ISN, inbound TS ecr mapped to the live TS val the script named,
// tolerance max(tolerance_usecs, tolerance_percent × interval), relative times based
// on the previous event's actual end unless both events are inbound packets). What is
// supported and what is not is listed in docs/drill.md.
//
// What drill owns: the language (Parse, with file:line:col errors, linear in the
// input and bounded), the runner and its mismatch reports. It must not touch the
// host's network namespace: everything it creates lives in its lab node and goes with
// it; a shell line that writes a host-global setting (a sysctl outside net.) is
// refused unless the caller allows it. It never prints: Run returns a Result whose
// lines the CLI renders.
package drill
