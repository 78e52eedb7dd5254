// Package inputfile opens and reads the files pktlab takes as input (topologies,
// experiments, nftables rulesets, capture filter files, capture files, pktlab's own
// JSON lines), so that no input can make pktlab read without end or wait without end.
//
// Every input is a regular file: a device (/dev/zero, /dev/stdin of a terminal), a FIFO
// or a socket is refused before a byte is read, and a FIFO is opened with O_NONBLOCK so
// that even the open(2) never waits for a writer. A file read whole is bounded by the
// limit of its Kind, checked on the size fstat(2) reports and again while reading, for
// files that grow or report no size (/proc). Reading checks its context between chunks,
// so Ctrl-C or SIGTERM ends it. Errors name the file, what kind of input it is, its size
// and the limit, and unwrap to the os error where there is one (errors.Is(err,
// os.ErrNotExist)).
//
// The package owns only opening and reading. It does not parse anything.
package inputfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Kind is a kind of input file and the most pktlab reads of one.
type Kind struct {
	What  string // "topology": names the file in errors
	Limit int64  // bytes; 0: no limit, for files read as a stream (captures)
}

// The limits, each far above what a real file of its kind holds, and far below what
// would strain a shared machine.
var (
	// Topology: 256 nodes (testlab's default limit) take about 20 KiB.
	Topology = Kind{What: "topology", Limit: 1 << 20}
	// Experiment: the largest of examples/ is under 8 KiB.
	Experiment = Kind{What: "experiment", Limit: 1 << 20}
	// Ruleset: 10 000 rules (bench/nft.sh) take about 600 KiB.
	Ruleset = Kind{What: "nftables ruleset", Limit: 16 << 20}
	// Script: a packetdrill script; the longest of Linux's selftests is under 16 KiB.
	Script = Kind{What: "packetdrill script", Limit: 1 << 20}
	// Filter: a tcpdump expression; the kernel takes at most 4096 BPF instructions.
	Filter = Kind{What: "capture filter", Limit: 64 << 10}
	// Capture: pcap and pcapng files are read one record at a time, so their size is
	// not limited; they must still be regular files, and reading is cancellable.
	Capture = Kind{What: "capture file", Limit: 0}
	// JSONLines: pktlab's JSON lines read back (pktlab report of a run's --json), one
	// line at a time. A run of 100 000 full-size frames writes about 300 MiB, the
	// most a report draws (picture.MaxFrames, MaxBytes) under 600 MiB.
	JSONLines = Kind{What: "JSON lines file", Limit: 1 << 30}
)

// Error says why an input file was refused.
type Error struct {
	Kind Kind
	Path string
	Size int64 // bytes seen, when the file was too large
	Msg  string
	Err  error // the underlying error, if any
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Kind.What, e.Path, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// chunk is how much is read between two checks of the context.
const chunk = 64 << 10

// Open opens path for reading as input of kind k: it must be a regular file, and, if
// k has a limit, no larger than it. Reads from the returned reader fail with the
// context's error once ctx is done. The caller closes the file.
func Open(ctx context.Context, path string, k Kind) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Kind: k, Path: path, Msg: "not read: " + err.Error(), Err: err}
	}
	// O_NONBLOCK: open(2) of a FIFO for reading would otherwise wait for a writer,
	// unkillable by our signal handling. On a regular file it changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{Kind: k, Path: path, Msg: openReason(err), Err: err}
	}
	fi, err := f.Stat() // of what was opened, not of what the path names now
	if err != nil {
		f.Close()
		return nil, &Error{Kind: k, Path: path, Msg: err.Error(), Err: err}
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &Error{Kind: k, Path: path, Msg: fmt.Sprintf("%s, not a regular file: give a file (a device, pipe or socket could be read without end)", typeName(fi.Mode()))}
	}
	if k.Limit > 0 && fi.Size() > k.Limit {
		f.Close()
		return nil, tooLarge(k, path, fi.Size(), false)
	}
	return &File{f: f, ctx: ctx, kind: k, path: path}, nil
}

// Read reads the whole of path as input of kind k (see Open).
func Read(ctx context.Context, path string, k Kind) ([]byte, error) {
	f, err := Open(ctx, path, k)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(ctx, f, path, k)
}

// ReadFrom reads all of r (standard input, say, named name in errors) as input of
// kind k: at most k.Limit bytes. A read that blocks (a pipe nobody writes to) does not
// hold up the caller once ctx is done: ReadFrom returns the context's error, and the
// read is abandoned, for the process is then about to exit.
func ReadFrom(ctx context.Context, name string, r io.Reader, k Kind) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readAll(ctx, r, name, k)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-ctx.Done():
		return nil, &Error{Kind: k, Path: name, Msg: "reading interrupted: " + ctx.Err().Error(), Err: ctx.Err()}
	}
}

// readAll reads r to its end, at most k.Limit bytes, checking ctx between chunks.
func readAll(ctx context.Context, r io.Reader, path string, k Kind) ([]byte, error) {
	var b []byte
	buf := make([]byte, chunk)
	for {
		if err := ctx.Err(); err != nil {
			return nil, &Error{Kind: k, Path: path, Msg: "reading interrupted: " + err.Error(), Err: err}
		}
		n, err := r.Read(buf)
		b = append(b, buf[:n]...)
		if k.Limit > 0 && int64(len(b)) > k.Limit {
			return nil, tooLarge(k, path, int64(len(b)), true)
		}
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, &Error{Kind: k, Path: path, Msg: err.Error(), Err: err}
		}
	}
}

// File is an input file opened by Open.
type File struct {
	f    *os.File
	ctx  context.Context
	kind Kind
	path string
	n    int64
}

// Read reads from the file; once the context is done it returns the context's error.
// With a limit, reading past it is an *Error (the file grew after it was opened).
func (f *File) Read(p []byte) (int, error) {
	if err := f.ctx.Err(); err != nil {
		return 0, &Error{Kind: f.kind, Path: f.path, Msg: "reading interrupted: " + err.Error(), Err: err}
	}
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := f.f.Read(p)
	f.n += int64(n)
	if f.kind.Limit > 0 && f.n > f.kind.Limit {
		return 0, tooLarge(f.kind, f.path, f.n, true)
	}
	return n, err
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Name returns the path the file was opened by.
func (f *File) Name() string { return f.path }

func tooLarge(k Kind, path string, size int64, reading bool) *Error {
	what := fmt.Sprintf("%s is", Size(size))
	if reading {
		what = fmt.Sprintf("more than %s was read, which is", Size(k.Limit))
	}
	return &Error{Kind: k, Path: path, Size: size, Msg: fmt.Sprintf("%s over the limit of %s for a %s", what, Size(k.Limit), k.What)}
}

// Size formats a byte count as people read it: "64 KiB", "1 MiB", "5.2 MiB (5452595
// bytes)".
func Size(n int64) string {
	const kib, mib = 1 << 10, 1 << 20
	switch {
	case n < kib:
		return fmt.Sprintf("%d bytes", n)
	case n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n < mib && n%kib == 0:
		return fmt.Sprintf("%d KiB", n/kib)
	case n < mib:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/kib, n)
	}
	return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/mib, n)
}

func openReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, fs.ErrNotExist):
			return "no such file"
		case errors.Is(pe.Err, fs.ErrPermission):
			return "permission denied"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}
