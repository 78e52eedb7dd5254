// Package enumname renders the names of the project's small integer enums (socket
// kinds, event kinds, trace types, EtherTypes…), so that each type's String method is
// one table and one line instead of a switch written again for every type.
//
// A type lists its names in an array indexed by its values (Name) or, when its values
// lie far apart (EtherTypes, pcap link types), in a map (Lookup), and gives the text it
// prints for a value it does not name: a fmt format with one verb for the number, such
// as "Kind(%d)" or "0x%04x". The number is formatted as a plain integer, never through
// the type's own String method, so a %x or %v fallback cannot recurse.
//
// The package owns only that rendering; it knows no type of the project.
package enumname

import "fmt"

// Integer is any integer type, the kinds of value an enum here may have.
type Integer interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr
}

// Name returns names[v] when v indexes a non-empty entry of names, and otherwise
// fallback formatted with v's number.
func Name[T Integer](v T, names []string, fallback string) string {
	if v >= 0 && uint64(v) < uint64(len(names)) && names[int(v)] != "" {
		return names[int(v)]
	}
	return Number(v, fallback)
}

// Lookup returns names[v] when it is there and non-empty, and otherwise fallback
// formatted with v's number.
func Lookup[T Integer](v T, names map[T]string, fallback string) string {
	if s := names[v]; s != "" {
		return s
	}
	return Number(v, fallback)
}

// Number formats v's number with format, as an int64 or a uint64 so that neither v's
// String method nor its width changes the text.
func Number[T Integer](v T, format string) string {
	if v < 0 {
		return fmt.Sprintf(format, int64(v))
	}
	return fmt.Sprintf(format, uint64(v))
}

// Parse returns the value whose entry in names is s (the first one, should two share
// it); ok is false when none is.
func Parse[T Integer](names []string, s string) (v T, ok bool) {
	for i, n := range names {
		if n != "" && n == s {
			return T(i), true
		}
	}
	return 0, false
}
