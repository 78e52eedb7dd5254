package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

const watchLab = `
nodes:
  a:
    interfaces:
      eth0: [198.18.0.1/24]
  b:
    interfaces:
      eth0: [198.18.0.2/24]
links:
  - [a:eth0, b:eth0]
`

// bpfFDs returns the BPF objects a process holds, as its fdinfo names them
// ("prog_id 12", "map_id 7", "link_id 3").
func bpfFDs(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for _, l := range strings.Split(string(b), "\n") {
			for _, k := range []string{"prog_id:", "map_id:", "link_id:"} {
				if v, ok := strings.CutPrefix(l, k); ok {
					out = append(out, strings.TrimSuffix(k, ":")+" "+strings.TrimSpace(v))
				}
			}
		}
	}
	return out
}

// bpfObjectExists reports whether the kernel still has the object ("prog_id 12"):
// bpftool reads the same list.
func bpfObjectExists(t *testing.T, obj string) bool {
	t.Helper()
	kind, id, _ := strings.Cut(obj, " ")
	arg := map[string]string{"prog_id": "prog", "map_id": "map", "link_id": "link"}[kind]
	out, err := exec.Command("bpftool", arg, "show", "id", id).CombinedOutput()
	return err == nil && len(out) > 0
}

func dialIn(t *testing.T, n *testlab.Node, addr string) {
	t.Helper()
	n.Do(func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return nil
	})
}

// TestWatchJSON: pktlab watch --json --port shows a refused connection on both
// nodes (the client's states and the RST it received, the server's RST and drop,
// with the kernel's reasons), nothing of another port, and on SIGINT it ends, with
// its counts, and leaves no BPF program, map or link.
func TestWatchJSON(t *testing.T) {
	lab := labtest.Start(t, watchLab)
	if _, err := exec.LookPath("bpftool"); err != nil && os.Getenv("CI") == "true" {
		t.Fatal("bpftool not installed (scripts/test.sh installs it)")
	}
	cmd := exec.Command(pktlabBin, "watch", lab.Name(), "--json", "--port", "7201")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	errLines := bufio.NewScanner(stderr)
	if !errLines.Scan() || !strings.HasPrefix(errLines.Text(), "watching node a, b of lab "+lab.Name()) {
		t.Fatalf("watch did not start: %q", errLines.Text())
	}
	objs := bpfFDs(t, cmd.Process.Pid)
	if len(objs) < 8+8+3 {
		t.Fatalf("watch holds %v; want its programs, links and maps", objs)
	}
	dialIn(t, lab.Node("a"), "198.18.0.2:7202") // filtered out
	dialIn(t, lab.Node("a"), "198.18.0.2:7201")

	// The part of the records (docs/json.md) the test reads.
	type packet struct{ Dport uint16 }
	type ev struct {
		Type, Node string
		State      struct{ Local, Remote, From, To string } `json:"kernel_state"`
		Reset      struct {
			Sent          bool
			Remote, State string
			Reason        string
			Packet        *packet
		}
		Drop struct {
			Reason string
			Packet *packet
		}
		Stats *struct{ Lost *uint64 }
	}
	want := map[string]bool{"a kernel_state CLOSE SYN_SENT": false, "a kernel_state SYN_SENT CLOSE": false,
		"a reset false SYN_SENT": false, "b reset true NO_SOCKET": false, "b drop NO_SOCKET": false}
	lines := bufio.NewScanner(stdout)
	seen := 0
	var all strings.Builder
	t.Cleanup(func() { checkSchema(t, "watch --json", all.String(), "kernel_state", "reset", "drop", "stats") })
	for seen < len(want) && lines.Scan() {
		all.WriteString(lines.Text() + "\n")
		var e ev
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		if strings.HasSuffix(e.State.Remote, ":7202") || strings.HasSuffix(e.Reset.Remote, ":7202") ||
			e.Reset.Packet != nil && e.Reset.Packet.Dport == 7202 || e.Drop.Packet != nil && e.Drop.Packet.Dport == 7202 {
			t.Errorf("--port 7201 printed %s", lines.Text())
		}
		var key string
		switch e.Type {
		case "kernel_state":
			key = fmt.Sprint(e.Node, " ", e.Type, " ", e.State.From, " ", e.State.To)
		case "reset":
			state := e.Reset.State
			if e.Reset.Sent {
				state = e.Reset.Reason
			}
			key = fmt.Sprint(e.Node, " ", e.Type, " ", e.Reset.Sent, " ", state)
		case "drop":
			key = fmt.Sprint(e.Node, " ", e.Type, " ", e.Drop.Reason)
		}
		if done, ok := want[key]; ok && !done {
			want[key] = true
			seen++
		}
	}
	if seen < len(want) {
		t.Fatalf("watch ended before printing all of %v", want)
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	var last ev
	for lines.Scan() {
		all.WriteString(lines.Text() + "\n")
		json.Unmarshal(lines.Bytes(), &last)
	}
	err := cmd.Wait()
	took := time.Since(start)
	t.Logf("watch ended %v after SIGINT", took)
	if err != nil {
		t.Fatalf("watch after SIGINT: %v", err)
	}
	if took > exitLimit {
		t.Errorf("watch took %v to end after SIGINT", took)
	}
	if last.Type != "stats" || last.Stats == nil || last.Stats.Lost == nil || *last.Stats.Lost != 0 {
		t.Errorf("last line %+v, want the stats with lost 0", last)
	}
	// The kernel frees detached programs after an RCU grace period: poll its list.
	for _, o := range objs {
		labtest.Until(t, fmt.Sprintf("%s to be gone after watch ended", o), func() (bool, error) {
			return !bpfObjectExists(t, o), nil
		})
	}
}

// TestWatchText: the text form has a header and one line per event, node and event
// in their columns.
func TestWatchText(t *testing.T) {
	lab := labtest.Start(t, watchLab)
	cmd := exec.Command(pktlabBin, "watch", lab.Name(), "a", "--port", "7203")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if sc := bufio.NewScanner(stderr); !sc.Scan() || !strings.HasPrefix(sc.Text(), "watching node a of lab") {
		t.Fatalf("watch did not start: %q", sc.Text())
	}
	dialIn(t, lab.Node("a"), "198.18.0.2:7203")
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || strings.Fields(lines.Text())[0] != "TIME" {
		t.Fatalf("header %q", lines.Text())
	}
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) < 3 || f[1] != "a" {
			t.Fatalf("line %q: want node a in the second column", lines.Text())
		}
		if f[2] == "state" && strings.HasSuffix(lines.Text(), "SYN_SENT → CLOSE") {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest := ""
	for lines.Scan() {
		rest = lines.Text()
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch after SIGTERM: %v", err)
	}
	if !strings.HasSuffix(rest, " 0 lost") {
		t.Errorf("last line %q, want the event count and 0 lost", rest)
	}
}

// TestWatchBadInput: an unknown node or a bad port exits 2 with a reason.
func TestWatchBadInput(t *testing.T) {
	lab := labtest.Start(t, watchLab)
	for _, args := range [][]string{{"watch", lab.Name(), "nosuch"}, {"watch", lab.Name(), "--port", "70000"}, {"watch"}} {
		_, errOut, code := run(t, args...)
		if code != 2 || errOut == "" {
			t.Errorf("pktlab %v: exit %d, stderr %q; want 2 and a reason", args, code, errOut)
		}
	}
}
