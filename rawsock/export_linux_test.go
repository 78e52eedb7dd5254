//go:build linux

package rawsock

// RecvMemoryInUse is the receive memory the open sockets of this process hold, for
// tests.
func RecvMemoryInUse() int {
	recvMem.mu.Lock()
	defer recvMem.mu.Unlock()
	return recvMem.used
}
