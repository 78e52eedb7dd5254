package labtest

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/pktlab/pktlab/testlab"
)

// NetStat reads one of the kernel's protocol counters in node n, as nstat does: group
// is the prefix of a /proc/net/netstat or /proc/net/snmp line ("TcpExt", "Tcp",
// "Ip"), name the counter ("TCPSynRetrans", "RetransSegs").
func NetStat(n *testlab.Node, group, name string) (int64, error) {
	for _, file := range []string{"netstat", "snmp"} {
		var b []byte
		if err := n.Do(func() (err error) { b, err = os.ReadFile("/proc/thread-self/net/" + file); return err }); err != nil {
			return 0, err
		}
		// Each group is a line of names and a line of values.
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) == 0 || names[0] != group+":" || len(vals) != len(names) {
				continue
			}
			if j := slices.Index(names, name); j > 0 {
				return strconv.ParseInt(vals[j], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("labtest: no counter %s %s in node %s", group, name, n.Name())
}
