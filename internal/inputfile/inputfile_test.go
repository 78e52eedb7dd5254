package inputfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRefusesWhatIsNotARegularFile: /dev/zero, a directory and a FIFO without a writer
// are refused before a byte is read; the FIFO's open does not wait for a writer (with
// a blocking open this test would hang).
func TestRefusesWhatIsNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "topology /dev/zero: a character device, not a regular file"},
		{t.TempDir(), "a directory, not a regular file"},
		{fifo, "a named pipe (FIFO), not a regular file"},
	} {
		_, err := Read(context.Background(), tc.path, Topology)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}

// TestTooLarge: a file over the limit is refused from its size, naming file, size and
// limit; a file exactly at the limit is read whole.
func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(Topology.Limit + 1) // sparse: no disk used
	f.Close()
	_, err = Read(context.Background(), big, Topology)
	var e *Error
	if !errors.As(err, &e) || e.Size != Topology.Limit+1 {
		t.Fatalf("Read(big) = %v, want an *Error with size %d", err, Topology.Limit+1)
	}
	want := "topology " + big + ": 1.0 MiB (1048577 bytes) is over the limit of 1 MiB for a topology"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	os.Truncate(big, Topology.Limit)
	b, err := Read(context.Background(), big, Topology)
	if err != nil || int64(len(b)) != Topology.Limit {
		t.Errorf("Read at the limit: %d bytes, %v", len(b), err)
	}
}

// endless is an input that never ends (what /dev/zero or /proc/self/... gives), counting
// what it handed out.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	e.n += int64(len(p))
	return len(p), nil
}

// TestEndlessInputStops: an input that reports no size and never ends is read no
// further than one chunk past the limit.
func TestEndlessInputStops(t *testing.T) {
	src := &endless{}
	_, err := ReadFrom(context.Background(), "<stdin>", src, Filter)
	if err == nil || !strings.Contains(err.Error(), "more than 64 KiB was read, which is over the limit of 64 KiB for a capture filter") {
		t.Fatalf("ReadFrom(endless) = %v", err)
	}
	if src.n > Filter.Limit+chunk {
		t.Errorf("read %d bytes of an endless input; want at most the limit plus one chunk (%d)", src.n, Filter.Limit+chunk)
	}
}

// TestReadFromCancelled: a read of a pipe nobody writes to returns once the context is
// cancelled (without cancellation this test would hang).
func TestReadFromCancelled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := ReadFrom(ctx, "<stdin>", r, Ruleset)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFrom after cancel = %v, want context.Canceled", err)
	}
}

// TestFileReadStopsWhenCancelled: a streamed file (a capture) stops being read once its
// context is done, with the context's error.
func TestFileReadStopsWhenCancelled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.pcap")
	os.WriteFile(p, make([]byte, 3*chunk), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	f, err := Open(ctx, p, Capture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, chunk)
	if n, err := f.Read(buf); n != chunk || err != nil {
		t.Fatalf("first read: %d, %v", n, err)
	}
	cancel()
	if _, err := io.ReadAll(f); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel = %v, want context.Canceled", err)
	}
}

func TestMissingFileUnwraps(t *testing.T) {
	_, err := Read(context.Background(), "/no/such/file", Experiment)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "experiment /no/such/file: no such file" {
		t.Errorf("Read(missing) = %v", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		10: "10 bytes", 64 << 10: "64 KiB", 1 << 20: "1 MiB", 16 << 20: "16 MiB",
		1536: "1.5 KiB (1536 bytes)", 5452595: "5.2 MiB (5452595 bytes)",
	} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
