package drill

import "testing"

func TestDrillHostGlobal(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"sysctl -q net.ipv4.tcp_sack=0", ""},
		{"sysctl -w net.ipv4.tcp_rmem='4096 1 2'", ""},
		{"sysctl -q kernel.pid_max=100", "writes sysctl kernel.pid_max"},
		{"sysctl -q -w vm/swappiness=1", "writes sysctl vm.swappiness"},
		{"echo 1 > /proc/sys/net/ipv4/tcp_sack", ""},
		{"echo 1 > /proc/sys/kernel/printk", "touches /proc/sys/kernel/printk"},
		{"echo 0 > /sys/kernel/mm/foo", "writes a file under /sys"},
		{"set_sysctls.py /proc/sys/net/ipv4/tcp_ecn=1", ""},
		{"ip link set tun0 mtu 1400", ""},
		{"nsenter -t 1 -n ip link", "runs `nsenter`, which reaches outside the node"},
		{"ip netns exec other sysctl -w net.ipv4.ip_forward=1", "runs `ip netns`, which reaches outside the node"},
		{"ip -n other link", "runs `ip -n`, which reaches outside the node"},
		{"sysctl -q -p /etc/sysctl.conf", "runs `sysctl -q -p`, which reaches outside the node"},
		{"sysctl --system", "runs `sysctl --system`, which reaches outside the node"},
		{"true; mount -t tmpfs x /mnt", "runs `mount`, which reaches outside the node"},
		{"modprobe sch_fq", "runs `modprobe`, which reaches outside the node"},
		{"tc qdisc add dev tun0 root fq", ""},
		{"echo mounted", ""},
	} {
		if got := hostGlobal(tc.cmd); got != tc.want {
			t.Errorf("hostGlobal(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
