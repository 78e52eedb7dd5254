package yamlpos

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// TestChecks: each check reports at the node's position and the list reads in file
// order.
func TestChecks(t *testing.T) {
	root := parse(t, "a: 1\nb: [x]\na: 2\nc: 12x\nd: maybe\ne: -1s\nz: 1\n")
	c := &Errors{File: "f.yaml"}
	c.Mapping(root, "thing", []string{"a", "b", "c", "d", "e"}, func(k, v *yaml.Node) {
		switch k.Value {
		case "b":
			c.Scalar(v, "b")
		case "c":
			c.Integer(v, "c", 0, 10)
		case "d":
			c.Bool(v, "d")
		case "e":
			c.Duration(v, "e")
		}
	})
	c.Errs.Sort()
	var got []string
	for _, e := range c.Errs {
		got = append(got, e.Error())
	}
	want := []string{
		`f.yaml:2:4: b must be a scalar, not a list`,
		`f.yaml:3:1: thing: "a" is given twice`,
		`f.yaml:4:4: c "12x" must be an integer from 0 to 10`,
		`f.yaml:5:4: d "maybe" must be true or false`,
		`f.yaml:6:4: e "-1s" is not a duration: write it in Go syntax, like 500ms, 2s or 1m30s`,
		`f.yaml:7:1: unknown key "z" in thing (known: a, b, c, d, e)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	var e *Error
	if !errors.As(error(c.Errs), &e) || e.Line != 2 {
		t.Errorf("errors.As finds %v, want the first error", e)
	}
}

// TestListCapped: the text lists MaxShown errors and counts the rest.
func TestListCapped(t *testing.T) {
	var l ErrorList
	for i := range MaxShown + 5 {
		l = append(l, &Error{Pos: Pos{File: "f", Line: i + 1, Col: 1}, Msg: "bad"})
	}
	lines := strings.Split(l.Error(), "\n")
	if len(lines) != MaxShown+1 || lines[MaxShown] != "and 5 more errors" {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

// TestSyntaxError places yaml.v3's "line N" at column 1 of that line.
func TestSyntaxError(t *testing.T) {
	var doc yaml.Node
	err := yaml.Unmarshal([]byte("a: [\n"), &doc)
	if got := SyntaxError("f.yaml", err).Error(); !strings.HasPrefix(got, "f.yaml:1:1: bad YAML: ") {
		t.Errorf("got %q", got)
	}
}
