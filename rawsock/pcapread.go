package rawsock

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Capture file limits. A record longer than these is damage, not data: libpcap takes
// no packet over MAXIMUM_SNAPLEN (pcap-int.h), and Wireshark no pcapng block over
// 16 MiB (wiretap/pcapng.c MAX_BLOCK_SIZE). Holding to them bounds what a file can
// make the reader allocate.
const (
	maxFileSnap  = 262144
	maxBlockSize = 16 << 20
)

var (
	// ErrNotCapture is what NewFileReader's error wraps when the file is neither
	// pcap nor pcapng.
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrDamaged is what a FileError wraps for a record that breaks the format.
	ErrDamaged = errors.New("damaged record")
)

// FileError says where a capture file is damaged: the number of the frame whose
// record is bad (counting from 1, as tcpdump and Wireshark number frames; for a
// pcapng block that is not a frame, the number the next frame would have), the byte
// offset of that record, and what is wrong. After an error with Skipped set the
// reader has stepped over the damaged record and Next may be called again; after
// any other the reader is stuck and Next returns the same error.
type FileError struct {
	Frame   int
	Offset  int64
	Skipped bool
	Err     error
}

func (e *FileError) Error() string {
	if e.Frame == 0 {
		return fmt.Sprintf("file header at byte %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("frame %d at byte %d: %v", e.Frame, e.Offset, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// FileFrame is one frame read from a capture file.
type FileFrame struct {
	Data      []byte
	Time      time.Time
	Length    int // on the wire; may be less than len(Data) in a damaged file
	Interface int // index into FileReader.Interfaces
	Link      layers.LinkType
	Number    int   // counting from 1
	Offset    int64 // of the frame's record in the file
}

// FileReader reads pcap and pcapng files alike. It never reads a record over the
// formats' limits into memory, and reports damage as a *FileError that says where
// the file is damaged; a damaged pcapng block whose framing is intact is skipped, as
// Wireshark does, so the frames after it are still read.
type FileReader struct {
	// Interfaces are the interface names (pcapng, every section's in turn), or one
	// empty name (pcap).
	Interfaces []string

	r      *bufio.Reader
	off    int64 // of the next byte r returns
	frames int   // frames returned so far
	buf    []byte
	err    error // sticky: the reader cannot go on
	queued error // met while NewFileReader read ahead; the first Next returns it

	// pcap
	pcap  bool
	order binary.ByteOrder
	nanos bool
	link  layers.LinkType

	// pcapng: the current section's interfaces
	ifaces []ngIface
}

// ngIface is what an interface description block says.
type ngIface struct {
	global  int // index into Interfaces
	link    layers.LinkType
	snaplen int
	unit    float64 // seconds per timestamp tick (if_tsresol)
	offset  int64   // seconds (if_tsoffset)
}

// NewFileReader detects the format from the first bytes of r and reads the file
// header. A file that is no capture file gives an error that wraps ErrNotCapture;
// one whose header is cut short or damaged, a *FileError.
func NewFileReader(r io.Reader) (*FileReader, error) {
	fr := &FileReader{r: bufio.NewReaderSize(r, 64<<10)}
	magic, err := fr.r.Peek(4)
	if len(magic) < 4 {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("rawsock: %w: %d bytes, shorter than any capture file header", ErrNotCapture, len(magic))
		}
		return nil, fmt.Errorf("rawsock: read capture file: %w", err)
	}
	le, be := binary.LittleEndian.Uint32(magic), binary.BigEndian.Uint32(magic)
	switch {
	case le == ngBlockSHB:
		if err := fr.readSHB(); err != nil {
			return nil, err
		}
		// Interface blocks come before the first frame that refers to them; read
		// those that lead the file so that Interfaces is filled before Next.
		fr.peekInterfaces()
		return fr, nil
	case le == 0xa1b2c3d4 || le == 0xa1b23c4d:
		fr.order, fr.nanos = binary.LittleEndian, le == 0xa1b23c4d
	case be == 0xa1b2c3d4 || be == 0xa1b23c4d:
		fr.order, fr.nanos = binary.BigEndian, be == 0xa1b23c4d
	case magic[0] == 0x1f && magic[1] == 0x8b:
		return nil, fmt.Errorf("rawsock: %w: it is gzip-compressed; decompress it first (gunzip)", ErrNotCapture)
	default:
		return nil, fmt.Errorf("rawsock: %w: unknown magic number %#08x", ErrNotCapture, le)
	}
	fr.pcap = true
	h, err := fr.read(24)
	if err != nil {
		return nil, fr.damage(0, fr.truncated(err, 24, "file header"))
	}
	if major := fr.order.Uint16(h[4:]); major != 2 {
		return nil, fr.damage(0, fmt.Errorf("pcap version %d.%d: want 2.x: %w", major, fr.order.Uint16(h[6:]), ErrDamaged))
	}
	fr.link = layers.LinkType(fr.order.Uint32(h[20:]) & 0x03ffffff) // LT_LINKTYPE: the upper bits say FCS
	fr.Interfaces = []string{""}
	return fr, nil
}

// Next returns the next frame, or io.EOF at the end of the file. Data is valid
// until the next call.
func (fr *FileReader) Next() (FileFrame, error) {
	if fr.err != nil {
		return FileFrame{}, fr.err
	}
	if err := fr.queued; err != nil {
		fr.queued = nil
		return FileFrame{}, err
	}
	if fr.pcap {
		return fr.nextPcap()
	}
	return fr.nextNg()
}

// read returns the next n bytes of the file, in a buffer reused by the next call.
func (fr *FileReader) read(n int) ([]byte, error) {
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	b := fr.buf[:n]
	got, err := io.ReadFull(fr.r, b)
	fr.off += int64(got)
	if err != nil {
		return b[:got], err
	}
	return b, nil
}

// truncated describes a read of n bytes of what that ended early.
func (fr *FileReader) truncated(err error, n int, what string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("truncated: the file ends inside the %s (%d bytes): %w", what, n, io.ErrUnexpectedEOF)
	}
	return err
}

// damage records a fatal error for the record at off, which holds the next frame
// or, for off 0, the file header.
func (fr *FileReader) damage(off int64, err error) error {
	e := &FileError{Frame: fr.frames + 1, Offset: off, Err: err}
	if off == 0 {
		e.Frame = 0
	}
	fr.err = e
	return e
}

func (fr *FileReader) nextPcap() (FileFrame, error) {
	at := fr.off
	h, err := fr.read(16)
	if len(h) == 0 && errors.Is(err, io.EOF) {
		return FileFrame{}, io.EOF
	}
	if err != nil {
		return FileFrame{}, fr.damage(at, fr.truncated(err, 16, "record header"))
	}
	sec, frac := fr.order.Uint32(h), fr.order.Uint32(h[4:])
	caplen, length := int(fr.order.Uint32(h[8:])), int(fr.order.Uint32(h[12:]))
	if caplen > maxFileSnap {
		// As libpcap (sf-pcap.c, max_snaplen_for_dlt), whatever snap length the file
		// header claims. A pcap record has no marker to find the next one by: the
		// reader is lost.
		return FileFrame{}, fr.damage(at, fmt.Errorf("capture length %d exceeds the snap length %d: %w", caplen, maxFileSnap, ErrDamaged))
	}
	data, err := fr.read(caplen)
	if err != nil {
		return FileFrame{}, fr.damage(at, fr.truncated(err, caplen, "frame data"))
	}
	ns := int64(frac)
	if !fr.nanos {
		ns *= 1000
	}
	fr.frames++
	return FileFrame{Data: data, Time: time.Unix(int64(sec), ns).UTC(), Length: length, Link: fr.link, Number: fr.frames, Offset: at}, nil
}

// pcapng block types (draft-ietf-opsawg-pcapng §4).
const (
	ngBlockSHB = 0x0a0d0d0a
	ngBlockIDB = 1
	ngBlockPB  = 2 // obsolete packet block
	ngBlockSPB = 3
	ngBlockEPB = 6
)

// block reads the next pcapng block: its type, body (after type and length, before
// the trailing length) and offset. Framing damage is fatal.
func (fr *FileReader) block() (typ uint32, body []byte, at int64, err error) {
	at = fr.off
	h, err := fr.r.Peek(8)
	if len(h) == 0 && errors.Is(err, io.EOF) {
		return 0, nil, at, io.EOF
	}
	if len(h) < 8 {
		fr.off += int64(len(h))
		return 0, nil, at, fr.damage(at, fr.truncated(io.ErrUnexpectedEOF, 8, "block header"))
	}
	typ = fr.order.Uint32(h)
	if typ == ngBlockSHB {
		return typ, nil, at, nil // readSHB reads it: it may change the byte order
	}
	n := int(fr.order.Uint32(h[4:]))
	if n < 12 || n%4 != 0 || n > maxBlockSize {
		return 0, nil, at, fr.damage(at, fmt.Errorf("%s: total length %d: want a multiple of 4 from 12 to %d: %w", blockName(typ), n, maxBlockSize, ErrDamaged))
	}
	b, err := fr.read(n)
	if err != nil {
		return 0, nil, at, fr.damage(at, fr.truncated(err, n, blockName(typ)))
	}
	if trail := int(fr.order.Uint32(b[n-4:])); trail != n {
		// Only one of the two is wrong. Going on from the first is right if the
		// trailer is damaged; if the header is, the next block will not parse.
		fr.frames += isPacketBlock(typ)
		return 0, nil, at, &FileError{Frame: fr.frames, Offset: at, Skipped: true,
			Err: fmt.Errorf("%s: total length %d at its start, %d at its end: %w", blockName(typ), n, trail, ErrDamaged)}
	}
	return typ, b[8 : n-4], at, nil
}

// isPacketBlock is 1 for the blocks that hold a frame, else 0.
func isPacketBlock(typ uint32) int {
	if typ == ngBlockEPB || typ == ngBlockSPB || typ == ngBlockPB {
		return 1
	}
	return 0
}

// blockName names a pcapng block type as the specification does.
func blockName(typ uint32) string {
	switch typ {
	case ngBlockIDB:
		return "interface description block"
	case ngBlockPB:
		return "packet block"
	case ngBlockSPB:
		return "simple packet block"
	case ngBlockEPB:
		return "enhanced packet block"
	case 4:
		return "name resolution block"
	case 5:
		return "interface statistics block"
	}
	return fmt.Sprintf("block of type %#x", typ)
}

// readSHB reads a section header block: it sets the byte order and starts a new set
// of interfaces.
func (fr *FileReader) readSHB() error {
	at := fr.off
	h, _ := fr.r.Peek(12)
	if len(h) < 12 {
		fr.off += int64(len(h))
		return fr.damage(at, fr.truncated(io.ErrUnexpectedEOF, 12, "section header block"))
	}
	switch binary.LittleEndian.Uint32(h[8:]) {
	case 0x1a2b3c4d:
		fr.order = binary.LittleEndian
	case 0x4d3c2b1a:
		fr.order = binary.BigEndian
	default:
		return fr.damage(at, fmt.Errorf("section header block: byte-order magic %x: %w", h[8:12], ErrDamaged))
	}
	n := int(fr.order.Uint32(h[4:]))
	if n < 28 || n%4 != 0 || n > maxBlockSize {
		return fr.damage(at, fmt.Errorf("section header block: total length %d: want a multiple of 4 from 28 to %d: %w", n, maxBlockSize, ErrDamaged))
	}
	b, err := fr.read(n)
	if err != nil {
		return fr.damage(at, fr.truncated(err, n, "section header block"))
	}
	if trail := int(fr.order.Uint32(b[n-4:])); trail != n {
		return fr.damage(at, fmt.Errorf("section header block: total length %d at its start, %d at its end: %w", n, trail, ErrDamaged))
	}
	if major := fr.order.Uint16(b[12:]); major != 1 {
		return fr.damage(at, fmt.Errorf("pcapng version %d.%d: want 1.x: %w", major, fr.order.Uint16(b[14:]), ErrDamaged))
	}
	fr.ifaces = fr.ifaces[:0]
	return nil
}

// peekInterfaces reads the interface blocks that directly follow the section header.
func (fr *FileReader) peekInterfaces() {
	for {
		h, err := fr.r.Peek(4)
		if err != nil || fr.order.Uint32(h) != ngBlockIDB {
			return
		}
		_, body, at, err := fr.block()
		if err == nil {
			if err = fr.addInterface(body); err != nil {
				err = &FileError{Frame: fr.frames + 1, Offset: at, Skipped: true, Err: err}
			}
		}
		if err != nil {
			fr.queued = err // for the first Next
			return
		}
	}
}

func (fr *FileReader) nextNg() (FileFrame, error) {
	for {
		typ, body, at, err := fr.block()
		if err != nil {
			return FileFrame{}, err
		}
		skip := func(err error) (FileFrame, error) {
			fr.frames++ // a damaged packet block still takes its frame number
			return FileFrame{}, &FileError{Frame: fr.frames, Offset: at, Skipped: true, Err: err}
		}
		switch typ {
		case ngBlockSHB:
			if err := fr.readSHB(); err != nil {
				return FileFrame{}, err
			}
		case ngBlockIDB:
			if err := fr.addInterface(body); err != nil {
				return FileFrame{}, &FileError{Frame: fr.frames + 1, Offset: at, Skipped: true, Err: err}
			}
		case ngBlockEPB, ngBlockPB:
			f, err := fr.packetBlock(typ, body)
			if err != nil {
				return skip(err)
			}
			fr.frames++
			f.Number, f.Offset = fr.frames, at
			return f, nil
		case ngBlockSPB:
			f, err := fr.simplePacket(body)
			if err != nil {
				return skip(err)
			}
			fr.frames++
			f.Number, f.Offset = fr.frames, at
			return f, nil
		}
		// Other blocks (name resolution, statistics, secrets, custom) say nothing
		// pktlab shows.
	}
}

func (fr *FileReader) addInterface(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("interface description block of %d bytes, want at least 8: %w", len(b), ErrDamaged)
	}
	it := ngIface{global: len(fr.Interfaces), link: layers.LinkType(fr.order.Uint16(b)), snaplen: int(fr.order.Uint32(b[4:])), unit: 1e-6}
	name := ""
	for opts := b[8:]; len(opts) >= 4; {
		code, n := fr.order.Uint16(opts), int(fr.order.Uint16(opts[2:]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch {
		case code == 2: // if_name
			name = string(v)
		case code == 9 && n == 1: // if_tsresol
			if v[0]&0x80 != 0 {
				it.unit = math.Pow(2, -float64(v[0]&0x7f))
			} else {
				it.unit = math.Pow(10, -float64(v[0]))
			}
		case code == 14 && n == 8: // if_tsoffset
			it.offset = int64(fr.order.Uint64(v))
		}
		opts = opts[4+(n+3)&^3:]
	}
	fr.ifaces = append(fr.ifaces, it)
	fr.Interfaces = append(fr.Interfaces, name)
	return nil
}

// packetBlock decodes an enhanced packet block (or the obsolete packet block, whose
// interface id is 16 bits followed by a drops count).
func (fr *FileReader) packetBlock(typ uint32, b []byte) (FileFrame, error) {
	if len(b) < 20 {
		return FileFrame{}, fmt.Errorf("%s of %d bytes, want at least 32: %w", blockName(typ), len(b)+12, ErrDamaged)
	}
	id := int(fr.order.Uint32(b))
	if typ == ngBlockPB {
		id = int(fr.order.Uint16(b))
	}
	if id >= len(fr.ifaces) {
		return FileFrame{}, fmt.Errorf("%s for interface %d, but the section describes %d interface(s): %w", blockName(typ), id, len(fr.ifaces), ErrDamaged)
	}
	it := fr.ifaces[id]
	ticks := uint64(fr.order.Uint32(b[4:]))<<32 | uint64(fr.order.Uint32(b[8:]))
	caplen, length := int(fr.order.Uint32(b[12:])), int(fr.order.Uint32(b[16:]))
	if caplen > len(b)-20 {
		return FileFrame{}, fmt.Errorf("%s: capture length %d exceeds the %d bytes of data the block holds: %w", blockName(typ), caplen, len(b)-20, ErrDamaged)
	}
	return FileFrame{Data: b[20 : 20+caplen], Time: it.time(ticks), Length: length, Interface: it.global, Link: it.link}, nil
}

// simplePacket decodes a simple packet block: interface 0, no timestamp, captured
// up to the interface's snap length.
func (fr *FileReader) simplePacket(b []byte) (FileFrame, error) {
	if len(b) < 4 {
		return FileFrame{}, fmt.Errorf("simple packet block of %d bytes: %w", len(b), ErrDamaged)
	}
	if len(fr.ifaces) == 0 {
		return FileFrame{}, fmt.Errorf("simple packet block before any interface block: %w", ErrDamaged)
	}
	it := fr.ifaces[0]
	length := int(fr.order.Uint32(b))
	caplen := min(length, len(b)-4)
	if it.snaplen > 0 {
		caplen = min(caplen, it.snaplen)
	}
	return FileFrame{Data: b[4 : 4+caplen], Length: length, Interface: it.global, Link: it.link}, nil
}

// time converts a timestamp in the interface's ticks.
func (it ngIface) time(ticks uint64) time.Time {
	if it.unit == 1e-6 {
		return time.Unix(it.offset+int64(ticks/1e6), int64(ticks%1e6)*1000).UTC()
	}
	if it.unit == 1e-9 {
		return time.Unix(it.offset+int64(ticks/1e9), int64(ticks%1e9)).UTC()
	}
	sec := float64(ticks) * it.unit
	whole := math.Floor(sec)
	return time.Unix(it.offset+int64(whole), int64((sec-whole)*1e9)).UTC()
}
