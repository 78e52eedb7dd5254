package experiment

import (
	"context"
	"time"

	"gopkg.in/yaml.v3"
)

// Each kind of expectation is its own type; these say which kind it is and hand it to
// its check.

func (*FrameMatch) Kind() ExpectKind   { return ExpFrame }
func (*CallMatch) Kind() ExpectKind    { return ExpCall }
func (*SocketMatch) Kind() ExpectKind  { return ExpSocket }
func (*TraceMatch) Kind() ExpectKind   { return ExpTrace }
func (*USStateMatch) Kind() ExpectKind { return ExpUSState }
func (*CTMatch) Kind() ExpectKind      { return ExpCT }
func (*PacketMatch) Kind() ExpectKind  { return ExpPacket }
func (*LinkMatch) Kind() ExpectKind    { return ExpLink }

func (m *FrameMatch) check(_ context.Context, r *run) (string, bool, string) {
	r.caps.sync(2 * time.Second) // the frames the kernel has queued so far
	return r.checkFrames(m)
}

func (m *CallMatch) check(_ context.Context, r *run) (string, bool, string) { return r.checkCall(m) }
func (m *SocketMatch) check(_ context.Context, r *run) (string, bool, string) {
	return r.checkSocket(m)
}
func (m *TraceMatch) check(_ context.Context, r *run) (string, bool, string) { return r.checkTrace(m) }
func (m *USStateMatch) check(_ context.Context, r *run) (string, bool, string) {
	return r.checkUSState(m)
}
func (m *CTMatch) check(ctx context.Context, r *run) (string, bool, string) {
	return r.checkConntrack(ctx, m)
}
func (m *PacketMatch) check(_ context.Context, r *run) (string, bool, string) {
	return r.checkPacket(m)
}
func (m *LinkMatch) check(_ context.Context, r *run) (string, bool, string) { return r.checkLink(m) }

// expectKinds are the kinds' keys in a file, and parse reads each one's value.
var expectKinds = []string{"frame", "call", "socket", "trace", "us_state", "conntrack", "packet", "link"}

func (p *parser) expectKind(kind string, v *yaml.Node) Check {
	switch kind {
	case "frame":
		return p.frameMatch(v)
	case "call":
		return p.callMatch(v)
	case "socket":
		return p.socketMatch(v)
	case "trace":
		return p.traceMatch(v)
	case "us_state":
		return p.usStateMatch(v)
	case "conntrack":
		return p.ctMatch(v)
	case "packet":
		return p.packetMatch(v)
	}
	return p.linkMatch(v)
}
