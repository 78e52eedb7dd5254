// Package experiment reads pktlab experiment files and runs them: it builds the lab,
// applies nftables rulesets (through filter.ApplyText) and sysctls, captures every
// link, runs the steps (kernel socket agent calls, pktlab's userspace TCP, crafted
// packets, packet sockets of the file's own, sysctl and nft changes, sleeps, waits,
// programs) in order or in parallel groups, records everything on one timeline and
// checks the expectations.
//
// An experiment file is YAML:
//
//	lab: labs/two-nodes.yaml          # or an inline topology (see testlab)
//	sysctls: {client: {net.ipv4.tcp_timestamps: 0}}
//	nft: {server: "table inet f { … }"}
//	capture: [client:eth0]            # default: both ends of every link
//	steps:
//	  - {node: server, listen: l, addr: 198.18.1.1:80}
//	  - {node: client, connect: c, addr: 198.18.1.1:80, id: conn}
//	expect:
//	  - frame: {on: client:eth0, flags: S, seq: 0}
//	  - call: {step: conn, errno: 0}
//
// Every error in a file is reported as file:line:col with what is wrong, and a file with
// errors creates nothing. That includes the nftables texts (nft:, nft steps, trace
// filters): Parse checks each one with filter.Validate where pktlab's subset of nft
// covers it, and otherwise with nft --check in a network namespace of its own thread
// that the kernel removes when the check ends (filter.CheckText: never the host's,
// never a lab's), with the node's interface names present and its earlier texts
// applied first.
//
// A step's calls (agent calls, userspace TCP actions, a program's run) go on the
// timeline carrying the step's id (timeline.Call.Step), and call expectations read
// them there: the step's result is the call that failed and ended it, else its main
// call.
//
// Frame and packet expectations are tables of fields (fields.go): each field is
// declared once, with how it is parsed, matched and described, and a field left out
// is no condition at all, so it matches anything (packetimpact's rule). Gaps between
// matching frames are checked either as gaps: [..] ± tolerance (for kernel timers) or
// as min_gap: D, the lower bound a sender that waits between sends guarantees on a
// loaded machine. The package owns the file format, the runner and the
// assertions; it does not own the lab (testlab), frame capture and parsing (rawsock),
// socket calls (agent), kernel socket tables (sockdiag) or the kernel's tracepoints
// (ktrace: the run subscribes each node's namespace and puts the kernel's state
// changes, retransmissions, resets and drops on the timeline; without BPF it polls
// sock_diag and says so in Result.Polled), and it never prints: a run
// returns a Result holding the timeline and each expectation's outcome.
package experiment
