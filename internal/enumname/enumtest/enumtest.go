// Package enumtest checks the String methods of a package's enums: each value named,
// and the fallback text of values the type does not name. It is for tests only.
package enumtest

import (
	"fmt"
	"sort"
	"testing"
)

// Cases gives the text each value's String must return.
type Cases = map[fmt.Stringer]string

// Names fails t for every value whose String is not the text want gives for it, and
// whose fmt %v and %s do not print that text too (so a type that loses its String
// method, or gets a pointer receiver, is caught).
func Names(t *testing.T, want Cases) {
	t.Helper()
	type tc struct {
		v    fmt.Stringer
		name string
	}
	var cases []tc
	for v, w := range want {
		cases = append(cases, tc{v, fmt.Sprintf("%T/%s", v, w)})
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := want[c.v]
			if got := c.v.String(); got != w {
				t.Errorf("String() = %q, want %q", got, w)
			}
			if got := fmt.Sprintf("%v|%s", c.v, c.v); got != w+"|"+w {
				t.Errorf("%%v|%%s = %q, want %q", got, w+"|"+w)
			}
		})
	}
}
