package drill

import (
	"context"
	"testing"
)

// BenchmarkDrillUserspace plays retransmit.pkt (1.41 s of script time: three RTO
// backoffs) against the userspace stack, parse included; script-s/s is how many
// seconds of script time one second of wall time plays.
func BenchmarkDrillUserspace(b *testing.B) {
	b.ReportAllocs()
	s, err := Load(context.Background(), "testdata/retransmit.pkt")
	if err != nil {
		b.Fatal(err)
	}
	var script float64
	for b.Loop() {
		res, err := Run(context.Background(), s, Options{Stack: "userspace"})
		if err != nil || !res.Passed() {
			b.Fatalf("%v %v", err, res.Mismatch)
		}
		script += res.End.Seconds()
	}
	b.ReportMetric(script/b.Elapsed().Seconds(), "script-s/s")
}

// BenchmarkDrillParse parses every script of testdata.
func BenchmarkDrillParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range []string{"testdata/passive-open.pkt", "testdata/active-open.pkt", "testdata/blocking.pkt"} {
			if _, err := Load(context.Background(), f); err != nil {
				b.Fatal(err)
			}
		}
	}
}
