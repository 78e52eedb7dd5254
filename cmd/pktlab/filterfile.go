package main

import (
	"context"
	"errors"

	"github.com/pktlab/pktlab/internal/inputfile"
	"github.com/pktlab/pktlab/rawsock/capfilter"
)

// readFilterFile reads a capture filter from file, as tcpdump -F does, and checks it
// for link type lt, so that a mistake is reported as file:line:col. As tcpdump's
// read_infile, a '#' starts a comment to the end of the line; comments are blanked, not
// cut, so that positions stay those of the file. expr is the -f flag, which may not be
// given too.
func readFilterFile(ctx context.Context, expr, file string, lt capfilter.LinkType) (string, error) {
	if expr != "" {
		return "", usageError("-f and -F both give a filter: use one")
	}
	b, err := inputfile.Read(ctx, file, inputfile.Filter)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", usageError("%v", err)
	}
	for i := 0; i < len(b); i++ {
		if b[i] == '#' {
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		}
	}
	text := string(b)
	if _, err := capfilter.Compile(text, lt); err != nil {
		var se *capfilter.SyntaxError
		if errors.As(err, &se) {
			return "", usageError("%s:%d:%d: %s", file, se.Line, se.Col, se.Msg)
		}
		return "", usageError("%s: %v", file, err)
	}
	return text, nil
}
