package drill

import (
	"context"
	"fmt"
	"testing"
)

// TestDrillConstructCoverage is the language's coverage gate (as tcpstate's gate on
// RFC 9293's arrows): every construct the parser accepts must appear in a script of
// testdata that the kernel tests run, so each is checked against Linux.
func TestDrillConstructCoverage(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range testdataScripts(t) {
		s, err := Load(context.Background(), f)
		if err != nil {
			continue // bad-*.pkt
		}
		for _, o := range s.Options {
			seen["option "+o.Name] = true
		}
		for _, e := range s.Events {
			constructsOf(e, seen)
		}
	}
	want := []string{
		"time absolute", "time relative", "time any", "time none", "time range", "call blocking",
		"event packet", "event syscall", "event shell", "event code",
		"proto tcp", "proto udp", "proto icmp", "ecn", "ack", "win", "urg", "options any",
		"option tolerance_usecs", "result errno",
	}
	for _, k := range []OptKind{OptEOL, OptNOP, OptMSS, OptWScale, OptSACKOK, OptSACK, OptTimestamp, OptFastOpen, 253} {
		want = append(want, fmt.Sprintf("tcp option %d", k))
	}
	for _, n := range syscallNames() {
		want = append(want, "call "+n)
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no script of testdata uses %s", w)
		}
	}
}

func constructsOf(e *Event, seen map[string]bool) {
	seen["event "+e.Kind.String()] = true
	seen["time "+e.Time.Kind.String()] = true
	if e.Time.Range {
		seen["time range"] = true
	}
	if c := e.Call; c != nil {
		seen["call "+c.Name] = true
		if c.EndSet {
			seen["call blocking"] = true
		}
		if c.Errno != "" {
			seen["result errno"] = true
		}
	}
	p := e.Packet
	if p == nil {
		return
	}
	seen["proto "+p.Proto.String()] = true
	if p.ECN != "" {
		seen["ecn"] = true
	}
	if t := p.TCP; t != nil {
		for k, on := range map[string]bool{"ack": t.Ack != nil, "win": t.Win != nil, "urg": t.Urg != nil, "options any": t.AnyOpts} {
			if on {
				seen[k] = true
			}
		}
		for _, o := range t.Options {
			seen[fmt.Sprintf("tcp option %d", o.Kind)] = true
		}
	}
}
