// Package picture draws what a timeline recorded: a ladder (sequence) diagram for the
// terminal, one lane per endpoint and one arrow per frame, with kernel and userspace
// state changes written under the lane that changed, the kernel's retransmissions,
// resets and drops (ktrace's) beside their node's lane, and verdicts, drops and NAT
// rewrites marked on the arrows; and a self-contained HTML report of a run or a
// capture (the same ladder in SVG, a time-sequence graph per TCP flow, the
// cwnd/ssthresh/srtt where the timeline has congestion samples, the expectations and
// the flows).
//
// It reads a *timeline.Timeline through one conversion, FromTimeline, which switches
// on the timeline's typed events, into its own Diagram (lanes, rows, flows, samples),
// so the renderers do not depend on how the timeline stores its events. It also rebuilds a timeline from frames read out of a capture file or a
// live capture (FromFrames), inferring which interfaces are the two ends of one link
// and which end sent each frame.
//
// It never prints and owns no sockets: every renderer writes to the io.Writer it is
// given, and the CLI decides widths and colours.
package picture
