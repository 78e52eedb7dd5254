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

// expectKinds are the kinds of expectation by their key in a file, each with the
// parser of its value.
var expectKinds = []struct {
	key   string
	parse func(p *parser, v *yaml.Node) Check
}{
	{"frame", kindOf((*parser).frameMatch)}, {"call", kindOf((*parser).callMatch)},
	{"socket", kindOf((*parser).socketMatch)}, {"trace", kindOf((*parser).traceMatch)},
	{"us_state", kindOf((*parser).usStateMatch)}, {"conntrack", kindOf((*parser).ctMatch)},
	{"packet", kindOf((*parser).packetMatch)}, {"link", kindOf((*parser).linkMatch)},
	// the kernel's own TCP events (expect_kernel.go)
	{"kernel_state", kindOf((*parser).kernelStateMatch)}, {"drop", kindOf((*parser).dropMatch)},
	{"retransmit", kindOf((*parser).retransmitMatch)}, {"reset", kindOf((*parser).resetMatch)},
}

// kindOf makes a kind's parser one of expectKinds.
func kindOf[C Check](parse func(*parser, *yaml.Node) C) func(*parser, *yaml.Node) Check {
	return func(p *parser, v *yaml.Node) Check { return parse(p, v) }
}

// expectKind parses the value of an expectation's kind key.
func (p *parser) expectKind(kind string, v *yaml.Node) Check {
	for _, k := range expectKinds {
		if k.key == kind {
			return k.parse(p, v)
		}
	}
	return nil // Mapping allows only the kinds' keys
}

// expectKeys are the keys of an expectation: desc and the kinds'.
func expectKeys() []string {
	out := []string{"desc"}
	for _, k := range expectKinds {
		out = append(out, k.key)
	}
	return out
}
