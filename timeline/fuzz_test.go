package timeline

import (
	"testing"
	"time"
)

// FuzzDecodeAndRender decodes arbitrary frames and renders them; nothing may panic.
func FuzzDecodeAndRender(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, data []byte) {
		tl := New(time.Unix(0, 0), []Endpoint{{"a", "eth0", 1}, {"b", "eth0", 0}})
		tl.AddFrame(time.Unix(1, 0), 0, data, true)
		tl.AddFrame(time.Unix(1, 1000), 1, data, false)
		for _, e := range tl.Events() {
			_ = tl.Line(e)
		}
	})
}
