// Package jsonschema reads the schema of pktlab's JSON lines from the tables of
// docs/json.md and checks lines against it, so that the documentation is the schema
// the tests hold every command to. It is for tests: it reads a file of the source tree.
package jsonschema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Field is one key of an object.
type Field struct {
	Type     string // string, integer, number, bool, string[], map, object, or an object's name
	Optional bool
}

// Schema is the envelope every record has, the body of each record type, and the
// named objects bodies use.
type Schema struct {
	Version  int
	Envelope map[string]Field
	Types    map[string]map[string]Field // record type → its body's keys
	Objects  map[string]map[string]Field
}

var (
	heading = regexp.MustCompile("^#{2,3} (?:(object) )?`?([A-Za-z_]+)`?\\s*$")
	row     = regexp.MustCompile("^\\| `([a-z_0-9]+)` \\| ([a-z_\\[\\]]+)(\\?)? \\|")
	italic  = regexp.MustCompile("^\\| \\*type\\* \\| object \\|")
)

// Load reads the schema from the Markdown file at path (docs/json.md).
func Load(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &Schema{Version: 1, Envelope: map[string]Field{}, Types: map[string]map[string]Field{}, Objects: map[string]map[string]Field{}}
	var cur map[string]Field
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			cur = nil
			m := heading.FindStringSubmatch(line)
			switch {
			case m == nil:
			case m[2] == "Envelope":
				cur = s.Envelope
			case m[1] == "object":
				cur = map[string]Field{}
				s.Objects[m[2]] = cur
			case strings.HasPrefix(line, "### "):
				cur = map[string]Field{}
				s.Types[m[2]] = cur
			}
			continue
		}
		if italic.MatchString(line) || cur == nil {
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil {
			if _, dup := cur[m[1]]; dup {
				return nil, fmt.Errorf("%s:%d: key %q twice", path, n, m[1])
			}
			cur[m[1]] = Field{Type: m[2], Optional: m[3] == "?"}
		}
	}
	if len(s.Envelope) == 0 || len(s.Types) == 0 {
		return nil, fmt.Errorf("%s: no envelope or record types found", path)
	}
	for name, fields := range s.all() {
		for k, f := range fields {
			if !s.known(f.Type) {
				return nil, fmt.Errorf("%s: %s.%s has unknown type %q", path, name, k, f.Type)
			}
		}
	}
	return s, sc.Err()
}

func (s *Schema) all() map[string]map[string]Field {
	out := map[string]map[string]Field{"envelope": s.Envelope}
	for k, v := range s.Types {
		out[k] = v
	}
	for k, v := range s.Objects {
		out["object "+k] = v
	}
	return out
}

func (s *Schema) known(t string) bool {
	switch t {
	case "string", "integer", "number", "bool", "string[]", "map", "object":
		return true
	}
	_, ok := s.Objects[t]
	return ok
}

// Validate checks one line: a JSON object with the envelope's keys, version 1, a
// known type, and its body under the type's name with exactly the documented keys,
// each of its documented type.
func (s *Schema) Validate(line []byte) error {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var rec map[string]any
	if err := d.Decode(&rec); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	if d.More() {
		return fmt.Errorf("more than one value on the line")
	}
	typ, _ := rec["type"].(string)
	if _, ok := s.Types[typ]; !ok {
		return fmt.Errorf("type %q is not documented", typ)
	}
	if v, _ := rec["v"].(json.Number); v.String() != fmt.Sprint(s.Version) {
		return fmt.Errorf("v = %v, want %d", rec["v"], s.Version)
	}
	env := map[string]Field{typ: {Type: bodyOf + typ}}
	for k, f := range s.Envelope {
		env[k] = f
	}
	return s.object(env, rec, typ+" record")
}

// bodyOf prefixes a record type in the envelope's fields: the body's type.
const bodyOf = "body of "

func (s *Schema) object(fields map[string]Field, v any, where string) error {
	o, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object, have %T", where, v)
	}
	for k, f := range fields {
		if _, ok := o[k]; !ok && !f.Optional {
			return fmt.Errorf("%s: no %q", where, k)
		}
	}
	for _, k := range sortedKeys(o) {
		f, ok := fields[k]
		if !ok {
			return fmt.Errorf("%s: undocumented key %q", where, k)
		}
		if err := s.value(f.Type, o[k], where+"."+k); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schema) value(t string, v any, where string) error {
	bad := func() error { return fmt.Errorf("%s: want %s, have %v (%T)", where, t, v, v) }
	switch t {
	case "string":
		if _, ok := v.(string); !ok {
			return bad()
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			return bad()
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		if f, err := n.Float64(); err != nil || f != math.Trunc(f) {
			return bad()
		}
	case "string[]":
		a, ok := v.([]any)
		if !ok {
			return bad()
		}
		for i, x := range a {
			if err := s.value("string", x, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case "map", "object":
		if _, ok := v.(map[string]any); !ok {
			return bad()
		}
	default:
		if typ, ok := strings.CutPrefix(t, bodyOf); ok {
			return s.object(s.Types[typ], v, typ)
		}
		return s.object(s.Objects[t], v, where)
	}
	return nil
}

// ValidateLines checks every non-empty line of out and returns the errors, each
// with its line number.
func (s *Schema) ValidateLines(out []byte) []error {
	var errs []error
	for i, line := range bytes.Split(out, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := s.Validate(line); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v: %s", i+1, err, line))
		}
	}
	return errs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
