package decode

// SetFastPath turns the Ethernet/IPv4/TCP shortcut (decodeEtherIPv4TCP) on or off
// and returns the setting it replaced, so that a test can hold the shortcut to the
// general walk.
func SetFastPath(on bool) (old bool) {
	old, fastPath = fastPath, on
	return old
}
