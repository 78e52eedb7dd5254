package drill

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// pendingCall is a blocking call (...E) still running while later events are played.
type pendingCall struct {
	e    *Event
	done <-chan callResult
	w    window // when it must return
}

func (r *runner) syscall(ctx context.Context, e *Event, w window) error {
	if err := r.finishPending(ctx, e); err != nil {
		return err
	}
	c := e.Call
	done := r.st.call(ctx, c)
	if c.EndSet {
		end := c.End
		if e.Time.Kind == TimeRelative {
			end += w.lo - e.Time.Start
		}
		pw := window{lo: end, hi: end, tol: max(r.cfg.Tolerance, time.Duration(r.cfg.TolerancePercent/100*float64(end-w.lo)))}
		r.pending = &pendingCall{e: e, done: done, w: pw}
		r.res.Steps = append(r.res.Steps, Step{Event: e, Expected: w.lo, At: r.st.now(), Result: "(blocking)"})
		return nil
	}
	res, err := r.st.wait(ctx, done, w.hi+w.tol+outboundGrace)
	if err != nil {
		return err
	}
	return r.checkCall(e, res, w)
}

// pollPending checks a blocking call that has returned meanwhile.
func (r *runner) pollPending() error {
	if r.pending == nil {
		return nil
	}
	select {
	case res := <-r.pending.done:
		p := r.pending
		r.pending = nil
		return r.checkCall(p.e, res, p.w)
	default:
		return nil
	}
}

// finishPending waits for a blocking call before the next call, shell line or code
// block, or the script's end (next is nil), and checks it.
func (r *runner) finishPending(ctx context.Context, next *Event) error {
	if r.pending == nil {
		return nil
	}
	p := r.pending
	r.pending = nil
	res, err := r.st.wait(ctx, p.done, p.w.hi+p.w.tol+outboundGrace)
	if err != nil {
		return err
	}
	return r.checkCall(p.e, res, p.w)
}

// checkCall compares a call's result with the script's, in packetdrill's words.
func (r *runner) checkCall(e *Event, res callResult, w window) error {
	c := e.Call
	if res.fatal != nil {
		return fmt.Errorf("%s:%d: %s: %w", e.Pos.File, e.Pos.Line, c.Name, res.fatal)
	}
	if res.blocked {
		return r.fail(e, "timing", fmt.Sprintf("runtime error in %s call: expected it to return at %s sec but it was still blocked at %s sec",
			c.Name, secs(w.lo), secs(res.end)))
	}
	got := fmt.Sprintf("= %d", res.ret)
	if res.errno != "" {
		got += " " + res.errno
	}
	r.res.Steps = append(r.res.Steps, Step{Event: e, Expected: w.lo, At: res.end, Result: got})
	prefix := "runtime error in " + c.Name + " call: "
	if c.Ret.Kind == ExprInt && res.ret != c.Ret.Int {
		msg := fmt.Sprintf("Expected result %d but got %d", c.Ret.Int, res.ret)
		if res.errno != "" {
			msg += fmt.Sprintf(" with errno %d (%s)", errnos[res.errno], errnoText(res.errno))
		}
		return r.fail(e, "syscall", prefix+msg)
	}
	if c.Errno != "" && res.errno != c.Errno {
		return r.fail(e, "syscall", prefix+fmt.Sprintf("Expected errno %d (%s) but got %d (%s)",
			errnos[c.Errno], errnoText(c.Errno), errnos[res.errno], errnoText(res.errno)))
	}
	if res.bad != "" {
		return r.fail(e, "syscall", prefix+res.bad)
	}
	if !w.holds(res.end) {
		return r.fail(e, "timing", fmt.Sprintf("timing error: expected system call return at %s sec but happened at %s sec; tolerance %s sec",
			secs(w.lo), secs(res.end), secs(w.tol)))
	}
	return nil
}

func errnoText(name string) string {
	if name == "" {
		return "Success"
	}
	return unix.Errno(errnos[name]).Error()
}

// errnoName is the name of a live errno (EAGAIN for 11).
func errnoName(e unix.Errno) string {
	if e == unix.EAGAIN {
		return "EAGAIN"
	}
	for n, v := range errnos {
		if v == e && n != "EWOULDBLOCK" {
			return n
		}
	}
	return unix.ErrnoName(e)
}
