package ktrace

import (
	"time"

	"golang.org/x/sys/unix"
)

// clock converts a program's kernel timestamp to CLOCK_REALTIME, the clock packet
// sockets stamp frames with (skb->tstamp from ktime_get_real, net/core/dev.c).
//
// With bpf_ktime_get_tai_ns (Linux 6.1 and later) the conversion is exact: CLOCK_TAI
// is CLOCK_REALTIME plus the kernel's TAI offset, a whole number of seconds
// (timekeeping.c: offs_tai = offs_real + tai_offset), and both follow every step and
// slew of the wall clock. Without it, the programs use bpf_ktime_get_ns
// (CLOCK_MONOTONIC), and the offset to CLOCK_REALTIME is measured once, from the
// tightest of many bracketed reads (mono, real, mono): the error is at most half
// that bracket (Bound), as long as nobody steps the wall clock during the trace.
type clock struct {
	TAI    bool
	Offset int64         // ns added to a kernel timestamp
	Bound  time.Duration // the conversion's error bound (0 with TAI)
}

func (c clock) wall(ns uint64) time.Time { return time.Unix(0, int64(ns)+c.Offset) }

func gettime(id int32) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// taiClock returns the exact TAI → REALTIME offset: the difference of the two clocks
// read back to back, rounded to the whole second it is made of.
func taiClock() clock {
	d := gettime(unix.CLOCK_TAI) - gettime(unix.CLOCK_REALTIME)
	secs := (d + 5e8) / 1e9
	if d < 0 {
		secs = (d - 5e8) / 1e9
	}
	return clock{TAI: true, Offset: -secs * 1e9}
}

// monoClock measures REALTIME − MONOTONIC from 64 bracketed reads and keeps the one
// with the narrowest bracket.
func monoClock() clock {
	best := clock{Bound: time.Hour}
	for range 64 {
		m1 := gettime(unix.CLOCK_MONOTONIC)
		r := gettime(unix.CLOCK_REALTIME)
		m2 := gettime(unix.CLOCK_MONOTONIC)
		if half := time.Duration(m2-m1) / 2; half < best.Bound {
			best = clock{Offset: r - (m1 + (m2-m1)/2), Bound: half}
		}
	}
	return best
}
