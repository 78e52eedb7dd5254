package drill

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const (
	afInet  = unix.AF_INET
	afInet6 = unix.AF_INET6
)

// intOf evaluates an integer argument: a number, a constant, A|B, or [N].
func intOf(e *Expr) (int64, error) {
	switch e.Kind {
	case ExprInt, ExprSymbol:
		return e.Int, nil
	case ExprOr:
		var v int64
		for _, x := range e.Elems {
			n, err := intOf(x)
			if err != nil {
				return 0, err
			}
			v |= n
		}
		return v, nil
	case ExprList:
		if len(e.Elems) == 1 {
			return intOf(e.Elems[0])
		}
	case ExprCall:
		if e.Str == "htons" && len(e.Elems) == 1 {
			return intOf(e.Elems[0])
		}
	}
	return 0, fmt.Errorf("%v: expected an integer", e.Pos)
}

// field returns a struct argument's field by name, or nil.
func field(e *Expr, name string) *Expr {
	if e == nil || e.Kind != ExprStruct {
		return nil
	}
	for _, f := range e.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return nil
}

// lengthArg evaluates a buffer length (read, write), bounded like a packet line's
// payload so that no script sizes an allocation without a bound.
func lengthArg(e *Expr) (int, error) {
	n, err := intOf(e)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > maxPayload {
		return 0, fmt.Errorf("%v: length %d is not 0 to %d", e.Pos, n, maxPayload)
	}
	return int(n), nil
}

// iovLength is the total length of a msghdr's msg_iov=[{..., N}, …].
func iovLength(msg *Expr) (int, error) {
	iov := field(msg, "msg_iov")
	if iov == nil || iov.Kind != ExprList {
		return 0, fmt.Errorf("%v: msghdr needs msg_iov(N)=[{..., LEN}]", msg.Pos)
	}
	total := 0
	for _, v := range iov.Elems {
		l := field(v, "iov_len")
		if l == nil && v.Kind == ExprStruct && len(v.Fields) == 0 {
			return 0, fmt.Errorf("%v: iovec needs a length", v.Pos)
		}
		if l == nil {
			l = v.Fields[len(v.Fields)-1].Value
		}
		n, err := lengthArg(l)
		if err != nil {
			return 0, err
		}
		total += n
	}
	if total > maxPayload {
		return 0, fmt.Errorf("%v: msg_iov holds over %d bytes", msg.Pos, maxPayload)
	}
	return total, nil
}
