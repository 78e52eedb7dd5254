package testlab

import "testing"

// TestWithName renames labs written in ways a line-based rename missed: the name in a
// flow mapping, quoted, and a comment that looks like a name line. The new name is in
// the Source the lab's state keeps, and a bad name is refused.
func TestWithName(t *testing.T) {
	for _, src := range []string{
		"# name: old\n{name: \"lab1\", nodes: {a: {interfaces: {e0: [198.18.0.1/30]}}, b: {interfaces: {e0: [198.18.0.2/30]}}}, links: [[a:e0, b:e0]]}\n",
		"nodes:\n  a: {interfaces: {e0: [198.18.0.1/30]}}\n  b: {interfaces: {e0: [198.18.0.2/30]}}\nlinks:\n  - [a:e0, b:e0]\nname:   'lab1'   # the lab\n",
	} {
		topo, err := ParseFile("t.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		got, err := topo.WithName("x-renamed-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "x-renamed-1" || len(got.Nodes) != 2 || len(got.Links) != 1 {
			t.Errorf("renamed topology: name %q, %d nodes, %d links", got.Name, len(got.Nodes), len(got.Links))
		}
		again, err := ParseFile("t.yaml", got.Source)
		if err != nil || again.Name != "x-renamed-1" {
			t.Errorf("the renamed source parses to %v, %v; want lab x-renamed-1:\n%s", again, err, got.Source)
		}
		if topo.Name != "lab1" {
			t.Errorf("the original topology was changed: name %q", topo.Name)
		}
		if _, err := topo.WithName("Bad_Name"); !IsInvalid(err) {
			t.Errorf("WithName(Bad_Name) = %v, want a topology error", err)
		}
	}
}
