package drill

import "fmt"

func newUserStack(nc *netConfig, f *flow, cfg *Config) (stack, error) {
	return nil, fmt.Errorf("drill: the userspace stack is not built yet")
}
