package timeline

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeAndRender decodes arbitrary frames and renders them; nothing may panic.
func FuzzDecodeAndRender(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, data []byte) {
		tl := New(time.Unix(0, 0), []Endpoint{{"a", "eth0", 1}, {"b", "eth0", 0}})
		tl.AddFrame(Captured{Time: time.Unix(1, 0), Index: 0, Data: data, Out: true})
		tl.AddFrame(Captured{Time: time.Unix(1, 1000), Index: 1, Data: data})
		var b bytes.Buffer
		if err := tl.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		for _, e := range tl.Events() {
			_ = tl.Line(e)
		}
	})
}
