package timeline

import "encoding/json"

// The records marshal as their fields (snake_case keys, docs/json.md); these methods
// add the fields whose Go types would marshal as numbers no reader can name: states
// and flags as their names, durations in the unit their key says.

// MarshalText makes a VerdictType print as its name.
func (t VerdictType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// MarshalJSON gives the states by name.
func (u *UserspaceState) MarshalJSON() ([]byte, error) {
	type plain UserspaceState
	return json.Marshal(struct {
		*plain
		From string `json:"from"`
		To   string `json:"to"`
	}{(*plain)(u), u.From.String(), u.To.String()})
}

// MarshalJSON gives the timeout in whole seconds, as conntrack(8) does.
func (c *Conntrack) MarshalJSON() ([]byte, error) {
	type plain Conntrack
	return json.Marshal(struct {
		*plain
		ProtoName string `json:"proto_name"`
		TimeoutS  int64  `json:"timeout_s"`
	}{(*plain)(c), c.ProtoName(), int64(c.Timeout.Seconds())})
}

// MarshalJSON gives the flags as tcpdump letters.
func (p *KernelPacket) MarshalJSON() ([]byte, error) {
	type plain KernelPacket
	return json.Marshal(struct {
		*plain
		Flags string `json:"flags,omitempty"`
	}{(*plain)(p), flagText(p.Proto == 6, p.Flags.String())})
}

// MarshalJSON gives the flags as tcpdump letters.
func (r *Retransmit) MarshalJSON() ([]byte, error) {
	type plain Retransmit
	return json.Marshal(struct {
		*plain
		Flags string `json:"flags"`
	}{(*plain)(r), r.Flags.String()})
}

// MarshalJSON gives the smoothed RTT in microseconds.
func (c *CongestionSample) MarshalJSON() ([]byte, error) {
	type plain CongestionSample
	return json.Marshal(struct {
		*plain
		SRTTUS int64 `json:"srtt_us"`
	}{(*plain)(c), c.SRTT.Microseconds()})
}

func flagText(tcp bool, s string) string {
	if !tcp {
		return ""
	}
	return s
}
