package main

import (
	"context"
	"errors"
	"io"

	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/picture"
)

// startsJSON reports whether the file at path begins as pktlab's JSON lines do,
// with "{" (a pcapng file begins with 0x0a, a pcap file with its magic number).
func startsJSON(ctx context.Context, path string) (bool, error) {
	f, err := inputfile.Open(ctx, path, inputfile.Capture)
	if err != nil {
		return false, usageError("%v", err)
	}
	defer f.Close()
	var b [1]byte
	n, err := io.ReadFull(f, b[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, usageError("%v", err)
	}
	return n == 1 && b[0] == '{', nil
}

// jsonReport reads a run's JSON lines (run --json) into the report run --html
// would have written of it. Bad input is a usage error at its file:line.
func jsonReport(ctx context.Context, path string) (*picture.Report, error) {
	f, err := inputfile.Open(ctx, path, inputfile.JSONLines)
	if err != nil {
		return nil, usageError("%v", err)
	}
	defer f.Close()
	run, err := picture.ReadRun(f)
	var le *picture.LineError
	switch {
	case errors.As(err, &le):
		return nil, usageError("%s:%d: %s", path, le.Line, le.Msg)
	case err != nil:
		var ie *inputfile.Error
		if errors.As(err, &ie) {
			return nil, usageError("%v", err)
		}
		return nil, err
	}
	title := run.File
	if title == "" {
		title = path
	}
	return &picture.Report{Title: title, Comment: run.Comment, Error: run.Error, Expectations: run.Expectations,
		Diagram: picture.FromTimeline(run.Frames.Timeline())}, nil
}
