package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/pktlab/pktlab/internal/jsonschema"
)

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

// checkSchema holds every line a command wrote with --json to the schema of
// docs/json.md, and requires at least one record of each type in want.
func checkSchema(t *testing.T, what, out string, want ...string) {
	t.Helper()
	schemaOnce.Do(func() { schema, schemaErr = jsonschema.Load("../../docs/json.md") })
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	errs := schema.ValidateLines([]byte(out))
	for i, err := range errs {
		if i == 10 {
			t.Errorf("%s: %d more lines off the schema", what, len(errs)-i)
			break
		}
		t.Errorf("%s: %v", what, err)
	}
	for _, typ := range want {
		if !strings.Contains(out, `"type":"`+typ+`"`) {
			t.Errorf("%s wrote no %s record:\n%s", what, typ, out)
		}
	}
}

// TestDecodeJSONSchema: decode --json of the corpus files (Ethernet pcapng, cooked
// pcap) writes frame records of the schema.
func TestDecodeJSONSchema(t *testing.T) {
	for _, f := range []string{"../../rawsock/testdata/corpus.pcapng", "../../rawsock/testdata/corpus-cooked.pcap"} {
		out, stderr, code := run(t, "decode", "--json", "--hex", f)
		if code != 0 {
			t.Fatalf("decode %s: exit %d: %s", f, code, stderr)
		}
		checkSchema(t, "decode "+f, out, "frame")
	}
}
