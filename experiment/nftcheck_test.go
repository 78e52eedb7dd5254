package experiment

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/internal/privtest"
)

// TestParseNFTErrors: every nftables text of a file is checked before any lab exists,
// and an error is placed in the file: by filter's parser, or by nft --check in a
// throwaway namespace for what pktlab's subset does not cover.
func TestParseNFTErrors(t *testing.T) {
	privtest.Require(t)
	tests := []struct {
		name, src string
		want      []string
	}{
		{"setup typo", labOK + "nft:\n  server: |\n    table inet f {\n      chain c {\n        type filter hook input priority 0;\n        tcp dport 80 acept\n      }\n    }\nsteps: [{sleep: 1s}]\n",
			[]string{"x.yaml:12:"}},
		{"step unknown interface", labOK + "nft: {server: \"table inet f { chain c { type filter hook input priority 0; } }\"}\nsteps:\n  - node: server\n    nft: |\n      add rule inet f c iif \"eth9\" accept\n",
			[]string{"x.yaml:11:29: nft ruleset of server: Interface does not exist (nft --check)"}},
		{"step on a missing table", labOK + "steps:\n  - {node: server, nft: \"add rule inet nosuch c accept\"}\n",
			[]string{"x.yaml:8:40: nft ruleset of server: Could not process rule: No such file or directory (nft --check)"}},
		{"trace filter", labOK + "trace: {server: \"tcp dprt 80\"}\nsteps: [{sleep: 1s}]\n",
			[]string{"x.yaml:7:22: trace filter of server: "}},
		{"trace filter with a semicolon", labOK + "trace: {server: \"tcp dport 80; drop\"}\nsteps: [{sleep: 1s}]\n",
			[]string{"x.yaml:7:17: trace filter of server: give matches only, on one line, without ';'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			var got []string
			for i, e := range err.(ErrorList) {
				s := e.Error()
				if i < len(tt.want) && strings.HasPrefix(s, tt.want[i]) {
					s = tt.want[i]
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseNFTBeyondFilter: texts that filter's subset does not cover but nft accepts
// (another family, a delete, a rule added to a table an earlier text made) pass.
func TestParseNFTBeyondFilter(t *testing.T) {
	privtest.Require(t)
	src := labOK + "nft:\n  server: |\n    table arp a {\n      chain c { type filter hook input priority 0; }\n    }\n    table inet f {\n      chain c { type filter hook input priority 0; iif \"eth0\" accept; }\n    }\n" +
		"steps:\n  - {node: server, nft: \"add rule inet f c tcp dport 81 accept\"}\n  - {node: server, nft: \"delete table arp a\"}\n"
	if _, err := Parse("x.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
}

// TestParseNFTWithoutNamespace: where the check may not make its namespace (a user's
// --check), a text beyond filter's subset is not refused for that: the run needs the
// same privilege and checks it then. A text filter refuses is still refused when there
// is no checker at all.
func TestParseNFTWithoutNamespace(t *testing.T) {
	src := labOK + "steps:\n  - {node: server, nft: \"delete table arp a\"}\n"
	denied := func(_, _ []string, _ string) error { return filter.ErrCheckNamespace }
	if _, err := parse("x.yaml", []byte(src), denied); err != nil {
		t.Errorf("without a namespace: %v", err)
	}
	if _, err := parse("x.yaml", []byte(src), nil); err == nil {
		t.Error("without a checker, a text beyond filter's subset was accepted")
	}
}
