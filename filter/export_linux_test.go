//go:build linux

package filter

// VerifyByValue sets whether the listing verifier takes exactly decoded expressions
// that equal the compiled ones as values for the same (the default), and returns the
// function that restores it.
func VerifyByValue(on bool) (restore func()) {
	old := verifyByValue
	verifyByValue = on
	return func() { verifyByValue = old }
}
