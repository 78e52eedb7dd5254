package drill

import "testing"

func TestDrillHostGlobal(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"sysctl -q net.ipv4.tcp_sack=0", ""},
		{"sysctl -w net.ipv4.tcp_rmem='4096 1 2'", ""},
		{"sysctl -q kernel.pid_max=100", "sysctl kernel.pid_max"},
		{"sysctl -q -w vm/swappiness=1", "sysctl vm.swappiness"},
		{"echo 1 > /proc/sys/net/ipv4/tcp_sack", ""},
		{"echo 1 > /proc/sys/kernel/printk", "/proc/sys/kernel/printk"},
		{"echo 0 > /sys/kernel/mm/foo", "a file under /sys"},
		{"set_sysctls.py /proc/sys/net/ipv4/tcp_ecn=1", ""},
		{"ip link set tun0 mtu 1400", ""},
	} {
		if got := hostGlobal(tc.cmd); got != tc.want {
			t.Errorf("hostGlobal(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
