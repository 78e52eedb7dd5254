package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pktlab/pktlab/filter"
)

// TestCounterRowsJSON: the hand-written encoder writes what encoding/json writes.
func TestCounterRowsJSON(t *testing.T) {
	tests := []struct {
		name string
		rows []filter.CounterRow
	}{
		{"none", nil},
		{"empty", []filter.CounterRow{}},
		{"policy and rules", []filter.CounterRow{
			{Family: filter.FamilyINet, Table: "bench", Chain: "input", Packets: 3, Bytes: 180},
			{Family: filter.FamilyIP, Table: "t", Chain: "c", Handle: 2, Rule: `ip saddr 198.18.0.1 tcp dport 1024 counter packets 18446744073709551615 bytes 0 accept`, Packets: 1<<64 - 1},
			{Family: filter.FamilyIP6, Table: "t", Chain: "c", Handle: 3, Rule: `log prefix "a<b>&c \"q\" \\ \t\n\r\b\f` + "\x00\x1f\x7f é \u2028\u2029 \xff\xfe 😀\"", Bytes: 9},
			{Family: filter.Family(99), Table: "", Chain: "", Handle: 0, Rule: ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want, got bytes.Buffer
			rows := tc.rows
			if rows == nil {
				rows = []filter.CounterRow{}
			}
			if err := writeJSON(&want, rows); err != nil {
				t.Fatal(err)
			}
			if err := writeCounterRowsJSON(&got, tc.rows); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("(-encoding/json +pktlab):\n%s", diff)
			}
		})
	}
}

// FuzzCounterRowsJSON: any strings encode as encoding/json encodes them.
func FuzzCounterRowsJSON(f *testing.F) {
	f.Add("bench", "input", `udp dport 5353 log prefix "<x>" counter packets 1 bytes 2`, uint64(7))
	f.Add("\xff", "\u2028", "\x00\x01\x7f", uint64(0))
	f.Fuzz(func(t *testing.T, table, chain, rule string, handle uint64) {
		rows := []filter.CounterRow{{Family: filter.FamilyINet, Table: table, Chain: chain, Handle: handle, Rule: rule, Packets: handle, Bytes: handle * 3}}
		var want, got bytes.Buffer
		writeJSON(&want, rows)
		writeCounterRowsJSON(&got, rows)
		if want.String() != got.String() {
			t.Errorf("encoding/json:\n%s\npktlab:\n%s", want.String(), got.String())
		}
	})
}
