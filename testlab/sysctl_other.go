//go:build !linux

package testlab

// netSysctls is unknown off Linux: sysctls are not checked there.
func netSysctls() *sysctlTree { return nil }
