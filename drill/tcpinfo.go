package drill

import (
	"encoding/binary"
	"reflect"
	"strings"

	"golang.org/x/sys/unix"
)

// tcpiField is where a TCP_INFO field sits in struct tcp_info (include/uapi/linux/tcp.h).
type tcpiField struct {
	off, size int
	nibble    int // 1: low 4 bits (snd_wscale), 2: high 4 bits (rcv_wscale)
}

// tcpiFields maps tcpi_* names to their place, from x/sys's TCPInfo plus the two
// bitfields it leaves out (the byte after tcpi_options holds snd_wscale:4 and
// rcv_wscale:4).
var tcpiFields = func() map[string]tcpiField {
	m := map[string]tcpiField{
		"tcpi_snd_wscale": {off: 6, size: 1, nibble: 1},
		"tcpi_rcv_wscale": {off: 6, size: 1, nibble: 2},
	}
	t := reflect.TypeOf(unix.TCPInfo{})
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		m["tcpi_"+strings.ToLower(f.Name)] = tcpiField{off: int(f.Offset), size: int(f.Type.Size())}
	}
	return m
}()

// TCPInfoSize is how many bytes of struct tcp_info drill reads.
var TCPInfoSize = int(reflect.TypeOf(unix.TCPInfo{}).Size())

// assertConsts are the constants packetdrill defines for its code blocks.
var assertConsts = map[string]float64{
	"TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4,
	"TCPI_OPT_ECN": 8, "TCPI_OPT_ECN_SEEN": 16, "TCPI_OPT_SYN_DATA": 32,
	"TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3, "TCP_CA_Loss": 4,
	"True": 1, "False": 0,
}

// TCPInfo is one socket's TCP_INFO, as the kernel wrote it (little endian on the
// machines Go supports here, read in native order).
type TCPInfo []byte

// Field returns the value of a tcpi_* field, and false if the name is unknown or the
// kernel's struct is too short to hold it.
func (ti TCPInfo) Field(name string) (float64, bool) {
	f, ok := tcpiFields[name]
	if !ok || f.off+f.size > len(ti) {
		return 0, false
	}
	b := ti[f.off : f.off+f.size]
	switch {
	case f.nibble == 1:
		return float64(b[0] & 0xf), true
	case f.nibble == 2:
		return float64(b[0] >> 4), true
	case f.size == 1:
		return float64(b[0]), true
	case f.size == 2:
		return float64(binary.NativeEndian.Uint16(b)), true
	case f.size == 4:
		return float64(binary.NativeEndian.Uint32(b)), true
	}
	return float64(binary.NativeEndian.Uint64(b)), true
}
