package enumname

import (
	"testing"
)

type color uint8

var colorNames = [...]string{1: "red", 2: "green", 4: "blue"}

func (c color) String() string { return Name(c, colorNames[:], "color(%d)") }

type signed int

func (s signed) String() string { return Name(s, []string{"zero", "one"}, "signed(%d)") }

type ether uint16

var etherNames = map[ether]string{0x0800: "ip", 0x86dd: "ip6", 0x0806: ""}

// String's fallback uses %x: Number must format the number, not call String again.
func (e ether) String() string { return Lookup(e, etherNames, "0x%04x") }

func TestName(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"first", color(1).String(), "red"},
		{"middle", color(2).String(), "green"},
		{"last", color(4).String(), "blue"},
		{"zero is a hole", color(0).String(), "color(0)"},
		{"hole", color(3).String(), "color(3)"},
		{"past the end", color(5).String(), "color(5)"},
		{"largest", color(255).String(), "color(255)"},
		{"signed zero", signed(0).String(), "zero"},
		{"negative", signed(-1).String(), "signed(-1)"},
		{"signed past the end", signed(2).String(), "signed(2)"},
		{"map", ether(0x86dd).String(), "ip6"},
		{"map empty name", ether(0x0806).String(), "0x0806"},
		{"map missing, %x fallback", ether(0x88cc).String(), "0x88cc"},
		{"map %v of a stringer", Number(ether(7), "%v"), "7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   color
		wantOK bool
	}{
		{"red", 1, true},
		{"blue", 4, true},
		{"", 0, false},
		{"purple", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := Parse[color](colorNames[:], tc.in)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Parse(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
