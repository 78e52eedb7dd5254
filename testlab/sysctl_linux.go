//go:build linux

package testlab

import (
	"io/fs"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// netSysctls lists, once per process, the net.* sysctls a lab node has. With
// CAP_SYS_ADMIN (as `lab up` runs) it reads them in a new, empty network namespace:
// exactly what a node starts with. Without it (`lab up --check` as a user) it reads the
// host's /proc/sys/net, which is a superset: the few keys that exist only in the host's
// namespace then pass the check and are refused by `lab up`, still before anything is
// created. nil means /proc/sys/net cannot be read, and nothing is checked.
var netSysctls = sync.OnceValue(func() *sysctlTree {
	host, err := walkNetSysctls()
	if err != nil || len(host) == 0 {
		return nil
	}
	lab, err := sysctlsOfNewNamespace()
	if err != nil {
		return &sysctlTree{lab: host}
	}
	return &sysctlTree{lab: lab, host: host, probed: true}
})

// walkNetSysctls lists the files under /proc/sys/net as the calling thread's network
// namespace has them.
func walkNetSysctls() (map[string]bool, error) {
	const root = "/proc/sys/net"
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // a directory that vanished or is unreadable: skip it
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out[rel] = true
		}
		return nil
	})
	return out, err
}

// sysctlsOfNewNamespace lists /proc/sys/net from a thread in a new network
// namespace, which disappears when the thread leaves it (nothing refers to it).
func sysctlsOfNewNamespace() (keys map[string]bool, err error) {
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		keys, err = walkNetSysctls()
		return err
	})
	return keys, err
}
