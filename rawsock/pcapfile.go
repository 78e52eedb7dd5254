package rawsock

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

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
// or a classic pcap file (one link type, no names). Frames are gathered in memory and
// reach the underlying writer in whole records only: when 64 KiB have gathered, and
// at every Flush. A process killed between two writes therefore leaves a file that
// ends on a record boundary, with everything up to the last write in it; call Flush
// regularly (pktlab capture does twice a second) to bound what a kill loses, and
// before closing the underlying writer. WriteFrame and Flush may be called from
// different goroutines.
type FileWriter struct {
	mu     sync.Mutex // guards every field below
	out    io.Writer
	mem    bytes.Buffer // whole records not yet written to out
	ng     *pcapgo.NgWriter
	pcap   *pcapgo.Writer
	ifaces []FileInterface
	buf    []byte
	err    error // the first write error; every later call returns it
}

// fileWriteChunk is how much a FileWriter gathers before it writes to its writer.
const fileWriteChunk = 64 << 10

// linkOf is the pcap link type a capture point's frames are written with.
func linkOf(fi FileInterface) layers.LinkType {
	if fi.Cooked {
		return layers.LinkTypeLinuxSLL
	}
	return layers.LinkTypeEthernet
}

// NewPcapngWriter starts a pcapng file with one interface block per entry of ifaces,
// in order; frame i of WriteFrame refers to ifaces[i]. The section header and the
// interface blocks are written to w before it returns.
func NewPcapngWriter(w io.Writer, ifaces []FileInterface) (*FileWriter, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("rawsock: pcapng: no interfaces")
	}
	fw := &FileWriter{out: w, ifaces: ifaces}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "pktlab"
	for i, fi := range ifaces {
		intf := pcapgo.NgInterface{Name: fi.Name, Filter: fi.Filter, OS: "Linux", LinkType: linkOf(fi), SnapLength: 0}
		var err error
		if i == 0 {
			fw.ng, err = pcapgo.NewNgWriterInterface(&fw.mem, intf, opts)
		} else {
			_, err = fw.ng.AddInterface(intf)
		}
		if err != nil {
			return nil, fmt.Errorf("rawsock: pcapng interface %s: %w", fi.Name, err)
		}
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	return fw, nil
}

// NewPcapWriter starts a classic pcap file (nanosecond timestamps). All interfaces
// must share one link type, since the format has one per file. The file header is
// written to w before it returns.
func NewPcapWriter(w io.Writer, ifaces []FileInterface) (*FileWriter, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("rawsock: pcap: no interfaces")
	}
	for _, fi := range ifaces[1:] {
		if linkOf(fi) != linkOf(ifaces[0]) {
			return nil, fmt.Errorf("rawsock: pcap: %s and %s have different link types; write pcapng instead", ifaces[0].Name, fi.Name)
		}
	}
	fw := &FileWriter{out: w, ifaces: ifaces}
	fw.pcap = pcapgo.NewWriterNanos(&fw.mem)
	if err := fw.pcap.WriteFileHeader(maxFileSnap, linkOf(ifaces[0])); err != nil {
		return nil, fmt.Errorf("rawsock: pcap header: %w", err)
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	return fw, nil
}

// WriteFrame appends frame f captured on interface i. Cooked frames get a Linux
// cooked-mode header built from what the kernel said about them.
func (fw *FileWriter) WriteFrame(i int, f *Frame) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
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
		if err = fw.ng.WritePacket(ci, data); err == nil {
			err = fw.ng.Flush() // into mem: the record is whole there
		}
	} else {
		err = fw.pcap.WritePacket(ci, data)
	}
	if err != nil {
		return fmt.Errorf("rawsock: write frame from %s: %w", fw.ifaces[i].Name, err)
	}
	if fw.mem.Len() >= fileWriteChunk {
		return fw.writeOut()
	}
	return nil
}

// Flush writes out the frames gathered so far.
func (fw *FileWriter) Flush() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	if fw.ng != nil {
		if err := fw.ng.Flush(); err != nil {
			return fmt.Errorf("rawsock: pcapng: %w", err)
		}
	}
	return fw.writeOut()
}

// writeOut writes mem, whole records only, in one call. Called with fw.mu held.
func (fw *FileWriter) writeOut() error {
	if fw.mem.Len() == 0 {
		return nil
	}
	if _, err := fw.out.Write(fw.mem.Bytes()); err != nil {
		fw.err = fmt.Errorf("rawsock: write capture file: %w", err)
		return fw.err
	}
	fw.mem.Reset()
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
