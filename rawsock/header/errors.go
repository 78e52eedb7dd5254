package header

import "errors"

// Errors a Parse function wraps.
var (
	// ErrTruncated says the bytes end before the header, or before a length it
	// gives.
	ErrTruncated = errors.New("truncated frame")
	// ErrMalformed says the header's fields contradict each other (an IHL below
	// 5, a data offset past the total length, an option running past the header).
	ErrMalformed = errors.New("malformed header")
)

// Error is what Parse functions return: which header failed, why, and ErrTruncated
// or ErrMalformed to unwrap to. The errors of the common faults are values made once,
// so a failing Parse does not allocate either.
type Error struct {
	Header string // "IPv4", "TCP", …
	Reason string // what is wrong, in a few words
	Kind   error  // ErrTruncated or ErrMalformed
}

func (e *Error) Error() string { return e.Header + ": " + e.Reason + ": " + e.Kind.Error() }

// Unwrap returns ErrTruncated or ErrMalformed.
func (e *Error) Unwrap() error { return e.Kind }

func truncated(h, why string) *Error { return &Error{Header: h, Reason: why, Kind: ErrTruncated} }
func malformed(h, why string) *Error { return &Error{Header: h, Reason: why, Kind: ErrMalformed} }
