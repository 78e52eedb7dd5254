package capfilter

// optimize removes instructions that cannot change the result. For now: none.
func optimize(ops []op) []op { return ops }
