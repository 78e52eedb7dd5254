package rawsock

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// FileInterface describes one capture point of a capture file.
type FileInterface struct {
	Name   string // "node:iface"; pcapng stores it in the interface block (if_name)
	Cooked bool   // frames arrive without link header; written as LINKTYPE_LINUX_SLL
	Filter string // the capture filter text, stored as if_filter
}

// FileWriter writes frames to a pcapng file (one interface block per FileInterface)
// or a classic pcap file (one link type, no names). Call Flush before closing the
// underlying writer.
type FileWriter struct {
	ng     *pcapgo.NgWriter
	pcap   *pcapgo.Writer
	ifaces []FileInterface
	buf    []byte
}

// linkOf is the pcap link type a capture point's frames are written with.
func linkOf(fi FileInterface) layers.LinkType {
	if fi.Cooked {
		return layers.LinkTypeLinuxSLL
	}
	return layers.LinkTypeEthernet
}

// NewPcapngWriter starts a pcapng file with one interface block per entry of ifaces,
// in order; frame i of WriteFrame refers to ifaces[i].
func NewPcapngWriter(w io.Writer, ifaces []FileInterface) (*FileWriter, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("rawsock: pcapng: no interfaces")
	}
	fw := &FileWriter{ifaces: ifaces}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "pktlab"
	for i, fi := range ifaces {
		intf := pcapgo.NgInterface{Name: fi.Name, Filter: fi.Filter, OS: "Linux", LinkType: linkOf(fi), SnapLength: 0}
		var err error
		if i == 0 {
			fw.ng, err = pcapgo.NewNgWriterInterface(w, intf, opts)
		} else {
			_, err = fw.ng.AddInterface(intf)
		}
		if err != nil {
			return nil, fmt.Errorf("rawsock: pcapng interface %s: %w", fi.Name, err)
		}
	}
	return fw, nil
}

// NewPcapWriter starts a classic pcap file (nanosecond timestamps). All interfaces
// must share one link type, since the format has one per file.
func NewPcapWriter(w io.Writer, ifaces []FileInterface) (*FileWriter, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("rawsock: pcap: no interfaces")
	}
	for _, fi := range ifaces[1:] {
		if linkOf(fi) != linkOf(ifaces[0]) {
			return nil, fmt.Errorf("rawsock: pcap: %s and %s have different link types; write pcapng instead", ifaces[0].Name, fi.Name)
		}
	}
	fw := &FileWriter{ifaces: ifaces, pcap: pcapgo.NewWriterNanos(w)}
	if err := fw.pcap.WriteFileHeader(262144, linkOf(ifaces[0])); err != nil {
		return nil, fmt.Errorf("rawsock: pcap header: %w", err)
	}
	return fw, nil
}

// WriteFrame appends frame f captured on interface i. Cooked frames get a Linux
// cooked-mode header built from what the kernel said about them.
func (fw *FileWriter) WriteFrame(i int, f *Frame) error {
	data := f.Data
	length := f.Length
	if fw.ifaces[i].Cooked {
		fw.buf = AppendSLL(fw.buf[:0], f)
		fw.buf = append(fw.buf, f.Data...)
		data = fw.buf
		length += 16
	}
	ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: len(data), Length: max(length, len(data)), InterfaceIndex: i}
	var err error
	if fw.ng != nil {
		err = fw.ng.WritePacket(ci, data)
	} else {
		err = fw.pcap.WritePacket(ci, data)
	}
	if err != nil {
		return fmt.Errorf("rawsock: write frame from %s: %w", fw.ifaces[i].Name, err)
	}
	return nil
}

// Flush writes out buffered data (pcapng only buffers).
func (fw *FileWriter) Flush() error {
	if fw.ng != nil {
		return fw.ng.Flush()
	}
	return nil
}

// AppendSLL appends the 16-byte Linux cooked-mode header (LINKTYPE_LINUX_SLL,
// https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html) describing f.
func AppendSLL(dst []byte, f *Frame) []byte {
	var h [16]byte
	binary.BigEndian.PutUint16(h[0:], uint16(f.Type))
	binary.BigEndian.PutUint16(h[2:], f.HAType)
	binary.BigEndian.PutUint16(h[4:], uint16(f.AddrLen))
	copy(h[6:14], f.Addr[:])
	binary.BigEndian.PutUint16(h[14:], uint16(f.Protocol))
	return append(dst, h[:]...)
}

// FileFrame is one frame read from a capture file.
type FileFrame struct {
	Data      []byte
	Time      time.Time
	Length    int
	Interface int             // index into FileReader.Interfaces
	Link      layers.LinkType // of the frame's interface
}

// FileReader reads pcap and pcapng files alike.
type FileReader struct {
	ng         *pcapgo.NgReader
	pcap       *pcapgo.Reader
	Interfaces []string // interface names (pcapng), or one empty name (pcap)
}

// NewFileReader detects the format from the first bytes of r.
func NewFileReader(r io.Reader) (*FileReader, error) {
	br := newPeekReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("rawsock: read capture file: %w", err)
	}
	fr := &FileReader{}
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		if fr.ng, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions); err != nil {
			return nil, fmt.Errorf("rawsock: read pcapng: %w", err)
		}
		for i := 0; i < fr.ng.NInterfaces(); i++ {
			it, _ := fr.ng.Interface(i)
			fr.Interfaces = append(fr.Interfaces, it.Name)
		}
		return fr, nil
	}
	if fr.pcap, err = pcapgo.NewReader(br); err != nil {
		return nil, fmt.Errorf("rawsock: not a pcap or pcapng file: %w", err)
	}
	fr.Interfaces = []string{""}
	return fr, nil
}

// Next returns the next frame, or io.EOF. Data is valid until the next call.
func (fr *FileReader) Next() (FileFrame, error) {
	if fr.pcap != nil {
		data, ci, err := fr.pcap.ZeroCopyReadPacketData()
		if err != nil {
			return FileFrame{}, err
		}
		return FileFrame{Data: data, Time: ci.Timestamp, Length: ci.Length, Link: fr.pcap.LinkType()}, nil
	}
	data, ci, err := fr.ng.ZeroCopyReadPacketData()
	if err != nil {
		return FileFrame{}, err
	}
	for ci.InterfaceIndex >= len(fr.Interfaces) { // interface blocks later in the file
		it, _ := fr.ng.Interface(len(fr.Interfaces))
		fr.Interfaces = append(fr.Interfaces, it.Name)
	}
	it, err := fr.ng.Interface(ci.InterfaceIndex)
	if err != nil {
		return FileFrame{}, fmt.Errorf("rawsock: pcapng frame for interface %d: %w", ci.InterfaceIndex, err)
	}
	return FileFrame{Data: data, Time: ci.Timestamp, Length: ci.Length, Interface: ci.InterfaceIndex, Link: it.LinkType}, nil
}
