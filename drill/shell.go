package drill

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Shell lines run inside the lab node, where net.* sysctls are the node's own. A
// line that would write a setting outside the node's network namespace is refused
// unless Options.AllowHostSysctl: a sysctl key outside net., a /proc/sys path outside
// /proc/sys/net, or a write under /sys. net.core.* keys that exist only in the host's
// namespace are not visible in the node, so writing them fails there harmlessly.
var (
	sysctlArgRE = regexp.MustCompile(`\bsysctl\b[^;&|]*?\b([a-z][a-z0-9_]*(?:[./][A-Za-z0-9_*-]+)+)=`)
	procSysRE   = regexp.MustCompile(`/proc/sys/([A-Za-z0-9_./-]+)`)
	sysfsRE     = regexp.MustCompile(`>\s*/sys/`)
)

// hostCommandRE matches commands that reach outside the node whatever their
// arguments: another namespace (nsenter, ip netns, ip -n, unshare), the host's mounts,
// its kernel modules, or a sysctl file load that may hold any key.
var hostCommandRE = regexp.MustCompile(`(?:^|[;&|(]\s*|\s)(nsenter|unshare|mount|umount|modprobe|insmod|rmmod|ip\s+(?:-all\s+)?netns|ip\s+-n|sysctl\s+(?:\S+\s+)*(?:-p|--load|--system))\b`)

// hostGlobal returns the first host-global setting a command line writes, or "".
func hostGlobal(cmd string) string {
	if m := hostCommandRE.FindStringSubmatch(cmd); m != nil {
		return "runs `" + strings.Join(strings.Fields(m[1]), " ") + "`, which reaches outside the node"
	}
	for _, m := range sysctlArgRE.FindAllStringSubmatch(cmd, -1) {
		key := strings.ReplaceAll(m[1], "/", ".")
		if !strings.HasPrefix(key, "net.") {
			return "writes sysctl " + key
		}
	}
	for _, m := range procSysRE.FindAllStringSubmatch(cmd, -1) {
		if !strings.HasPrefix(m[1], "net/") {
			return "touches /proc/sys/" + m[1]
		}
	}
	if sysfsRE.MatchString(cmd) {
		return "writes a file under /sys"
	}
	return ""
}

func (r *runner) shellLine(ctx context.Context, e *Event) error {
	if err := r.finishPending(ctx, e); err != nil {
		return err
	}
	step := Step{Event: e, Expected: r.st.now(), At: r.st.now()}
	if g := hostGlobal(e.Shell); g != "" && !r.opts.AllowHostSysctl {
		step.Note = "skipped: it " + g + ", a host-global change (--allow-host-sysctl runs it)"
		r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("%s:%d: %s", e.Pos.File, e.Pos.Line, step.Note))
		r.res.Steps = append(r.res.Steps, step)
		return nil
	}
	note, err := r.st.shell(ctx, e.Shell, r.opts.Dir)
	step.At, step.Note = r.st.now(), note
	if note != "" {
		r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("%s:%d: %s", e.Pos.File, e.Pos.Line, note))
	}
	r.res.Steps = append(r.res.Steps, step)
	if err != nil {
		return r.fail(e, "shell", fmt.Sprintf("error executing `%s` command: %v", e.Shell, err))
	}
	return nil
}

func (r *runner) code(e *Event) error {
	ti, err := r.st.tcpInfo(-1)
	if err != nil {
		return r.fail(e, "assert", "error in code block: TCP_INFO: "+err.Error())
	}
	r.res.Steps = append(r.res.Steps, Step{Event: e, Expected: r.st.now(), At: r.st.now()})
	for _, a := range e.Code {
		ok, vals, err := a.Eval(ti.Field)
		if err != nil {
			return r.failAt(e, a.Pos, "assert", fmt.Sprintf("error in code block: assert %s: %v", a.Src, err))
		}
		if !ok {
			return r.failAt(e, a.Pos, "assert", fmt.Sprintf("assertion failed: assert %s (%s)", a.Src, vals))
		}
	}
	return nil
}

func (r *runner) failAt(e *Event, p Pos, kind, msg string) error {
	r.fail(e, kind, msg)
	r.res.Mismatch.Pos = p
	return errStop
}
