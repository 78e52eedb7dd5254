package picture

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"syscall"
	"time"

	"github.com/pktlab/pktlab/rawsock/header"
	"github.com/pktlab/pktlab/tcpstate"
	"github.com/pktlab/pktlab/timeline"
)

// Run is what a run's JSON lines (pktlab run --json, docs/json.md) hold for a report:
// its `run` and `result` records and its timeline, collected.
type Run struct {
	File    string // the experiment file, from the run record
	Comment string // the experiment's comment, from the run record
	Error   string // why the run failed, from the result record
	// Expectations are the outcome records, in their order.
	Expectations []Expectation
	Frames       *Collector // the frames and the other events, in the order read
}

// MaxJSONLine is the longest line ReadRun reads: a frame of 64 KiB (the most a
// packet socket hands over with GRO) is 128 KiB of hex.
const MaxJSONLine = 1 << 20

// LineError is a line of JSON lines that could not be read.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("%d: %s", e.Line, e.Msg) }

// ReadRun reads pktlab's JSON lines: a run's (pktlab run --json), or the frames of
// capture or decode with --hex. Each frame must carry its bytes (`hex`), from which
// the timeline is rebuilt as from a capture file (the copies of a frame on a link
// paired by content, which gives the links); the other records of the timeline are
// decoded into its types and kept in the order read, so that the report draws the
// timeline the run had. Records of types it does not know and keys it does not know
// are skipped, as docs/json.md asks of a reader. A line it cannot read is a
// *LineError; an error of r is returned as it is.
func ReadRun(r io.Reader) (*Run, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxJSONLine)
	rd := &runReader{run: &Run{Frames: NewCollector(nil)}, iface: map[string]int{}}
	rd.run.Frames.keepOrder = true
	n := 0
	for sc.Scan() {
		n++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := rd.line(sc.Bytes()); err != nil {
			return nil, &LineError{Line: n, Msg: err.Error()}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{Line: n + 1, Msg: fmt.Sprintf("a line longer than %d KiB: not pktlab's JSON lines", MaxJSONLine>>10)}
		}
		return nil, err
	}
	if rd.records == 0 {
		return nil, &LineError{Line: n, Msg: "no JSON records: give a run's --json output"}
	}
	return rd.run, nil
}

type runReader struct {
	run     *Run
	iface   map[string]int // interface name → collector index
	records int
	runs    int
	started bool // the timeline's start is known
}

// envelope is a record's keys besides its body (docs/json.md "Envelope").
type envelope struct {
	V    *int       `json:"v"`
	Type string     `json:"type"`
	Time *time.Time `json:"time"`
	T    *float64   `json:"t"`
	Node string     `json:"node"`
}

// record is a line as the envelope and, for a frame, its body: a frame, the most
// common record by far, is decoded in one pass.
type record struct {
	envelope
	Frame *timeline.FrameJSON `json:"frame"`
}

func (rd *runReader) line(b []byte) error {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("not a JSON record: %v", err)
	}
	env := rec.envelope
	switch {
	case env.V == nil || env.Type == "":
		return errors.New(`not a pktlab record: no "v" or "type"`)
	case *env.V != timeline.SchemaVersion:
		return fmt.Errorf("schema version %d; this pktlab reads version %d", *env.V, timeline.SchemaVersion)
	}
	var body json.RawMessage
	if env.Type != "frame" {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(b, &keys); err != nil {
			return fmt.Errorf("not a JSON object: %v", err)
		}
		body = keys[env.Type]
	}
	rd.records++
	// The run record's time is the timeline's start; without one, a record's time
	// less its time since the start (printed to the microsecond) is close to it.
	if env.Time != nil && !rd.started && (env.Type == "run" || env.T != nil) {
		start := *env.Time
		if env.Type != "run" {
			start = start.Add(-time.Duration(math.Round(*env.T * 1e9)))
		}
		rd.run.Frames.SetStart(start)
		rd.started = true
	}
	switch env.Type {
	case "run":
		return rd.runRecord(body)
	case "result":
		var res struct{ Error string }
		return decodeBody(body, &res, func() error { rd.run.Error = res.Error; return nil })
	case "frame":
		return rd.frame(env, rec.Frame)
	}
	dec, ok := eventDecoders[env.Type]
	if !ok {
		return nil // a record this pktlab does not know
	}
	if env.Time == nil {
		if env.Type == "note" {
			return nil // the command's own note ("lab left up"), not the run's
		}
		return fmt.Errorf(`%s record without "time"`, env.Type)
	}
	d, err := dec(body, env)
	if err != nil {
		return fmt.Errorf("%s record: %v", env.Type, err)
	}
	if o, ok := d.(*timeline.Outcome); ok {
		rd.run.Expectations = append(rd.run.Expectations, Expectation{Pos: o.Pos, Where: o.Where, Pass: o.Pass, Want: o.Want, Seen: o.Seen})
	}
	return rd.run.Frames.AddEvent(*env.Time, env.Node, d)
}

func (rd *runReader) runRecord(body json.RawMessage) error {
	var r struct{ File, Comment string }
	return decodeBody(body, &r, func() error {
		if rd.runs++; rd.runs > 1 {
			return fmt.Errorf("a second run (%s): a report draws one run; give each run's lines on their own", r.File)
		}
		rd.run.File, rd.run.Comment = r.File, r.Comment
		return nil
	})
}

// frame keeps a frame record's bytes, on its interface, in its direction, and for a
// run's record (one with a time since the start) what the run decided of it.
func (rd *runReader) frame(env envelope, f *timeline.FrameJSON) error {
	if f == nil {
		return errors.New("no body")
	}
	if env.Time == nil {
		return errors.New(`frame record without "time"`)
	}
	if f.Hex == "" {
		return errors.New(`frame record without its bytes ("hex"): a run's --json has them; capture and decode write them with --hex`)
	}
	data, err := hex.DecodeString(f.Hex)
	if err != nil {
		return fmt.Errorf(`frame record: "hex": %v`, err)
	}
	c := Captured{Iface: rd.index(f.Interface), Time: *env.Time, Data: data}
	switch f.Dir {
	case "out":
		c.Dir = DirOut
	case "in":
		c.Dir = DirIn
	}
	if env.T != nil {
		if c.Run, err = rd.runFrame(f); err != nil {
			return err
		}
	}
	return rd.run.Frames.Add(c)
}

// index is the collector's index of an interface, named as the frame records name it.
func (rd *runReader) index(name string) int {
	if name == "" {
		name = "?"
	}
	i, ok := rd.iface[name]
	if !ok {
		i = len(rd.iface)
		rd.iface[name] = i
		rd.run.Frames.SetNames(append(rd.run.Frames.Names(), name))
	}
	return i
}

// runFrame is what a run's frame record says the run decided of the frame.
func (rd *runReader) runFrame(j *timeline.FrameJSON) (*RunFrame, error) {
	r := &RunFrame{Flow: j.Flow, Dup: j.Dup}
	if j.RelSeq != nil {
		r.RelSeq = *j.RelSeq
	}
	switch {
	case j.RelAck != nil:
		r.RelAck, r.HasRelAck = *j.RelAck, true
	case j.Ack != nil:
		r.RelAck = *j.Ack // the timeline's RelAck without the other side's first
	}
	if nat := j.NAT; nat != nil {
		src, err1 := netip.ParseAddrPort(nat.Src)
		dst, err2 := netip.ParseAddrPort(nat.Dst)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf(`frame record: "nat": %v`, err)
		}
		r.NAT = &timeline.NAT{Src: src, Dst: dst, Endpoint: rd.index(nat.Interface)}
	}
	return r, nil
}

// decodeBody unmarshals a record's body into v and then calls then, if not nil.
func decodeBody(body json.RawMessage, v any, then func() error) error {
	if len(body) == 0 {
		return errors.New("no body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return err
	}
	if then == nil {
		return nil
	}
	return then()
}

// eventDecoders turn a record's body into the timeline's type: the inverse of
// timeline.Record and the records' MarshalJSON methods (record_json.go there), which
// write some fields their own way (a state by name, a duration in a unit): withKey
// reads that key apart.
var eventDecoders = map[string]func(body json.RawMessage, env envelope) (timeline.Data, error){
	"call":            decodeCall,
	"kernel_state":    plain[timeline.KernelState],
	"userspace_state": decodeUserspaceState,
	"step":            plain[timeline.Step],
	"note":            plain[timeline.Note],
	"outcome":         plain[timeline.Outcome],
	"verdict": withKey("type", func(v *timeline.Verdict, t string) (err error) {
		v.Type, err = parseVerdictType(t)
		return err
	}),
	"conntrack": withKey("timeout_s", func(c *timeline.Conntrack, s int64) error {
		c.Timeout = time.Duration(s) * time.Second
		return nil
	}),
	"congestion": withKey("srtt_us", func(c *timeline.CongestionSample, us int64) error {
		c.SRTT = time.Duration(us) * time.Microsecond
		return nil
	}),
	"retransmit": withKey("flags", func(r *timeline.Retransmit, f string) (err error) {
		r.Flags, err = parseFlags(f)
		return err
	}),
	"reset": withKey("packet", func(r *timeline.Reset, p *kernelPacket) (err error) {
		r.Packet, err = p.packet()
		return err
	}),
	"drop": withKey("packet", func(d *timeline.Drop, p *kernelPacket) (err error) {
		d.Packet, err = p.packet()
		return err
	}),
}

// plain decodes a record whose body is its type's fields as they are.
func plain[T any, P interface {
	*T
	timeline.Data
}](body json.RawMessage, _ envelope) (timeline.Data, error) {
	v := P(new(T))
	return v, decodeBody(body, v, nil)
}

// withKey decodes a record whose body is its type's fields but key, which it
// decodes into a V and hands to set with the record.
func withKey[T any, V any, P interface {
	*T
	timeline.Data
}](key string, set func(P, V) error) func(json.RawMessage, envelope) (timeline.Data, error) {
	return func(body json.RawMessage, _ envelope) (timeline.Data, error) {
		var keys map[string]json.RawMessage
		if err := decodeBody(body, &keys, nil); err != nil {
			return nil, err
		}
		var v V
		if raw, ok := keys[key]; ok {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("%q: %v", key, err)
			}
			delete(keys, key)
		}
		rest, err := json.Marshal(keys)
		if err != nil {
			return nil, err
		}
		rec := P(new(T))
		if err := json.Unmarshal(rest, rec); err != nil {
			return nil, err
		}
		return rec, set(rec, v)
	}
}

func decodeCall(body json.RawMessage, env envelope) (timeline.Data, error) {
	var j timeline.CallJSON
	if err := decodeBody(body, &j, nil); err != nil {
		return nil, err
	}
	dur := time.Duration(math.Round(j.DurMS * 1e6))
	c := &timeline.Call{Start: env.Time.Add(-dur), Dur: dur, Node: env.Node, Sock: j.Sock, Op: timeline.Op(j.Op), Args: j.Args, Ret: j.Ret, Info: j.Info, Timed: j.Blocked}
	if j.Data != "" {
		c.Data = []byte(j.Data)
	}
	var err error
	if j.Errno != "" {
		c.Errno, err = parseErrno(j.Errno)
	}
	return c, err
}

func parseErrno(name string) (syscall.Errno, error) {
	if e, ok := timeline.ErrnoValue(name); ok {
		return e, nil
	}
	var n int
	if _, err := fmt.Sscanf(name, "errno %d", &n); err == nil && n > 0 && n < 4096 {
		return syscall.Errno(n), nil
	}
	return 0, fmt.Errorf("errno %q is no Linux errno name", name)
}

func decodeUserspaceState(body json.RawMessage, _ envelope) (timeline.Data, error) {
	var j struct {
		timeline.UserspaceState
		From, To string
	}
	if err := decodeBody(body, &j, nil); err != nil {
		return nil, err
	}
	u := j.UserspaceState
	var err1, err2 error
	u.From, err1 = parseState(j.From)
	u.To, err2 = parseState(j.To)
	return &u, errors.Join(err1, err2)
}

func parseState(s string) (tcpstate.State, error) {
	for st := tcpstate.Closed; st <= tcpstate.TimeWait; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("%q is no RFC 9293 state", s)
}

func parseVerdictType(s string) (timeline.VerdictType, error) {
	for t := timeline.TraceRule; t <= timeline.TracePolicy; t++ {
		if t.String() == s {
			return t, nil
		}
	}
	if s == "" {
		return 0, nil
	}
	return 0, fmt.Errorf("verdict type %q", s)
}

// parseFlags reads TCP flags as tcpdump letters (header.TCPFlags.String).
func parseFlags(s string) (header.TCPFlags, error) {
	var f header.TCPFlags
	if s == "" || s == "none" {
		return 0, nil
	}
next:
	for _, c := range s {
		for bit := header.TCPFlagFIN; bit != 0; bit <<= 1 {
			if bit.String() == string(c) {
				f |= bit
				continue next
			}
		}
		return 0, fmt.Errorf("TCP flags %q: %q is no flag", s, c)
	}
	return f, nil
}

// kernelPacket is a KernelPacket as its MarshalJSON writes it.
type kernelPacket struct {
	timeline.KernelPacket
	Flags string `json:"flags"`
}

func (p *kernelPacket) packet() (*timeline.KernelPacket, error) {
	if p == nil {
		return nil, nil
	}
	k := p.KernelPacket
	var err error
	k.Flags, err = parseFlags(p.Flags)
	return &k, err
}

// RunRecord is an event of a run's timeline as a line of run --json: its record
// (timeline.Record) with, for a frame, the frame's bytes, from which ReadRun rebuilds
// the timeline.
func RunRecord(tl *timeline.Timeline, e timeline.Event) timeline.Record {
	r := tl.Record(e)
	if j, ok := r.Body.(timeline.FrameJSON); ok {
		j.Hex = hex.EncodeToString(e.Frame().Data)
		r.Body = j
	}
	return r
}
