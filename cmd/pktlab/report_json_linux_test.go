package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

// reportData is what a report draws: its script elements of data, in order.
func reportData(t *testing.T, path string) []string {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, el := range strings.Split(string(page), "<script type=")[1:] {
		if body, _, ok := strings.Cut(el, "</script>"); ok && strings.Contains(body, `id="pktlab-`) {
			data = append(data, body)
		}
	}
	if len(data) != 3 {
		t.Fatalf("%s: %d data elements, want 3", path, len(data))
	}
	return data
}

// TestReportOfJSONLines: decode --json --hex of a capture, given to report, draws
// what the report of the capture file draws; JSON lines without the frames' bytes,
// of another schema version, or not JSON are bad input, at their line.
func TestReportOfJSONLines(t *testing.T) {
	dir := t.TempDir()
	pcap := "../../picture/testdata/G1.pcapng"
	lines, stderr, code := run(t, "decode", "--json", "--hex", pcap)
	if code != 0 {
		t.Fatalf("decode: exit %d: %s", code, stderr)
	}
	jsonl := filepath.Join(dir, "g1.jsonl")
	os.WriteFile(jsonl, []byte(lines), 0o644)
	fromPcap, fromJSON := filepath.Join(dir, "pcap.html"), filepath.Join(dir, "json.html")
	for _, r := range [][2]string{{pcap, fromPcap}, {jsonl, fromJSON}} {
		if _, stderr, code := run(t, "report", r[0], "-o", r[1]); code != 0 {
			t.Fatalf("report %s: exit %d: %s", r[0], code, stderr)
		}
	}
	want, got := reportData(t, fromPcap), reportData(t, fromJSON)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report of the JSON lines, data element %d:\n%.400s…\nwant the capture's:\n%.400s…", i, got[i], want[i])
		}
	}
	noHex, _, _ := run(t, "decode", "--json", pcap)
	huge := filepath.Join(dir, "huge.jsonl")
	os.WriteFile(huge, []byte("{"), 0o644)
	os.Truncate(huge, 1<<30+1) // sparse
	for _, tt := range []struct{ name, in, want string }{
		{"no bytes", noHex, "nobytes.jsonl:1: frame record without its bytes (\"hex\")"},
		{"not JSON", "{\"v\":1,\"type\":\"run\",\"run\":{\"file\":\"x.yaml\"}}\n{oops\n", "notjson.jsonl:2: not a JSON record"},
		{"version", "{\"v\":2,\"type\":\"run\",\"run\":{\"file\":\"x.yaml\"}}\n", "version.jsonl:1: schema version 2; this pktlab reads version 1"},
		{"huge", "", "JSON lines file " + huge + ": 1024.0 MiB (1073741825 bytes) is over the limit of 1024 MiB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := huge
			if tt.in != "" {
				in = filepath.Join(dir, strings.ReplaceAll(strings.ToLower(tt.name), " ", "")+".jsonl")
				os.WriteFile(in, []byte(tt.in), 0o644)
			}
			out := filepath.Join(dir, "bad.html")
			_, stderr, code := runBounded(t, "report", in, "-o", out)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a report was written of bad input")
			}
		})
	}
}

// TestReportOfRunJSON: the report of a run's JSON lines is the run's own report.
// Each experiment is run with --json and --html at once; pktlab report of the JSON
// lines writes the page run --html wrote, byte for byte: the comment, the ladder with
// its calls, states and verdicts, the flows as the run numbered them, the graphs, the
// expectations. D3 loses a segment (a graph with a retransmission), G1 NATs (a
// router's two lanes), F1 traces verdicts and has a port unreachable answered.
func TestReportOfRunJSON(t *testing.T) {
	privtest.Require(t)
	for _, name := range []string{"D3", "G1", "F1"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			direct, fromJSON := filepath.Join(dir, "run.html"), filepath.Join(dir, "report.html")
			stdout, stderr, code := run(t, "run", "--json", "--html", direct, "../../examples/"+name+".yaml")
			if code != 0 {
				t.Fatalf("run: exit %d\n%s", code, stderr)
			}
			checkSchema(t, "run --json", stdout, "run", "frame", "outcome", "result")
			jsonl := filepath.Join(dir, name+".jsonl")
			os.WriteFile(jsonl, []byte(stdout), 0o644)
			if _, stderr, code := run(t, "report", jsonl, "-o", fromJSON); code != 0 {
				t.Fatalf("report: exit %d: %s", code, stderr)
			}
			sameFile(t, fromJSON, direct)
			page, _ := os.ReadFile(fromJSON)
			for _, s := range []string{name + ": ", "<h2>Expectations</h2>", `"k":"call"`} {
				if !strings.Contains(string(page), s) {
					t.Errorf("report lacks %q", s)
				}
			}
		})
	}
}

// sameFile fails unless the files at got and want hold the same bytes, and says
// where they first differ.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < min(len(wl), len(gl)); i++ {
		if wl[i] != gl[i] {
			t.Fatalf("%s differs from %s at line %d:\n%.600s\nwant:\n%.600s", got, want, i+1, gl[i], wl[i])
		}
	}
	if len(gl) != len(wl) {
		t.Fatalf("%s has %d lines, %s %d", got, len(gl), want, len(wl))
	}
}
