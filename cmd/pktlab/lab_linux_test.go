package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/labtest"
	"github.com/pktlab/pktlab/testlab"
)

// chainYAML is a lab of n nodes in a line, each pair on its own /24.
func chainYAML(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n", name)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  n%d:\n    interfaces:\n", i)
		if i > 0 {
			fmt.Fprintf(&b, "      e0: [198.18.%d.2/24]\n", i-1)
		}
		if i < n-1 {
			fmt.Fprintf(&b, "      e1: [198.18.%d.1/24]\n", i)
		}
	}
	b.WriteString("links:\n")
	for i := 0; i < n-1; i++ {
		fmt.Fprintf(&b, "  - [n%d:e1, n%d:e0]\n", i, i+1)
	}
	return b.String()
}

func writeTopo(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lab.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func namespacesOf(lab string) []string {
	var out []string
	ents, _ := os.ReadDir(testlab.NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), testlab.NamespaceName(lab, "")) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestNotRootSaysWhatIsMissing: run as an unprivileged user, pktlab says which
// capability is missing, and exits 1.
func TestNotRootSaysWhatIsMissing(t *testing.T) {
	privtest.Require(t) // root is needed to switch to the unprivileged user
	// Beside the binary: a directory the unprivileged user can read.
	topo := filepath.Join(filepath.Dir(pktlabBin), "nobody.yaml")
	if err := os.WriteFile(topo, []byte(chainYAML(labtest.UniqueName(), 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"lab", "up", topo}, {"lab", "ls"}, {"lab", "down", "--all"}} {
		cmd := exec.Command(pktlabBin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if args[1] == "ls" {
			// ls only reads state files: it works unprivileged.
			if err != nil {
				t.Errorf("pktlab lab ls as nobody: %v %s", err, stderr.String())
			}
			continue
		}
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("pktlab %v as nobody: %v, want exit 1", args, err)
		}
		msg := stderr.String()
		if !strings.Contains(msg, "CAP_NET_ADMIN") || !strings.Contains(msg, "run it as root") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("pktlab %v as nobody said %q; want one line naming CAP_NET_ADMIN and how to run it", args, msg)
		}
	}
}

// TestLabLifecycle: up, ls, show, exec, down, as a user types them.
func TestLabLifecycle(t *testing.T) {
	privtest.Require(t)
	name := labtest.UniqueName()
	src, _ := os.ReadFile("../../examples/labs/client-router-server.yaml")
	topo := writeTopo(t, strings.Replace(string(src), "name: crs", "name: "+name, 1))
	t.Cleanup(func() { testlab.Down(name) })

	out, stderr, code := run(t, "lab", "up", topo)
	if code != 0 || !strings.Contains(out, "lab "+name+" is up (3 nodes, 2 links)") {
		t.Fatalf("up: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := run(t, "lab", "up", topo); code != 1 {
		t.Errorf("second up: exit %d, want 1", code)
	}

	out, _, _ = run(t, "lab", "ls", "--json")
	var labs []struct {
		Name, Status string
		Nodes        int
	}
	json.Unmarshal([]byte(out), &labs)
	found := false
	for _, l := range labs {
		if l.Name == name {
			found = l.Status == "up" && l.Nodes == 3
		}
	}
	if !found {
		t.Errorf("ls --json lacks %s up with 3 nodes: %s", name, out)
	}

	out, _, _ = run(t, "lab", "show", name, "--json")
	var v labView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, n := range v.Nodes {
		for _, i := range n.Interfaces {
			var a []string
			for _, p := range i.Addrs {
				a = append(a, p.String())
			}
			got[n.Name+":"+i.Name] = i.State + " " + strings.Join(a, " ")
		}
	}
	want := map[string]string{
		"client:eth0": "UP 198.18.1.2/24 2001:db8:1::2/64",
		"router:eth0": "UP 198.18.1.1/24 2001:db8:1::1/64",
		"router:eth1": "UP 198.19.2.1/24 2001:db8:2::1/64",
		"server:eth0": "UP 198.19.2.2/24 2001:db8:2::2/64",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("show: %s = %q, want %q", k, got[k], w)
		}
	}
	text, _, _ := run(t, "lab", "show", name)
	if !strings.Contains(text, "default via 198.18.1.1 dev eth0") || !strings.Contains(text, "router (forwarding)") {
		t.Errorf("show text lacks the client's default route or the router's role:\n%s", text)
	}

	out, _, code = run(t, "lab", "exec", name, "router", "--", "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; exit 7")
	if code != 7 || strings.TrimSpace(out) != "1" {
		t.Errorf("exec: exit %d out %q, want exit 7 and forwarding 1", code, out)
	}
	if _, stderr, code := run(t, "lab", "exec", name, "nosuch", "--", "true"); code != 2 || !strings.Contains(stderr, "no node \"nosuch\" (nodes: client, router, server)") {
		t.Errorf("exec in unknown node: exit %d %q", code, stderr)
	}

	out, _, code = run(t, "lab", "down", name)
	if code != 0 || !strings.Contains(out, "lab "+name+" removed") {
		t.Errorf("down: exit %d %q", code, out)
	}
	if ns := namespacesOf(name); len(ns) != 0 {
		t.Errorf("namespaces left after down: %v", ns)
	}
	if _, stderr, code := run(t, "lab", "down", name); code != 2 || !strings.Contains(stderr, "no lab named") {
		t.Errorf("second down: exit %d %q, want 2 and 'no lab named'", code, stderr)
	}
}

// startUpUntil starts `pktlab lab up` on a long chain and returns once at least
// `after` of its namespaces exist, i.e. while it is still creating the lab.
func startUpUntil(t *testing.T, env []string, name string, nodes, after int) *exec.Cmd {
	t.Helper()
	topo := writeTopo(t, chainYAML(name, nodes))
	cmd := exec.Command(pktlabBin, "lab", "up", topo)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) // a no-op once it has been waited for
	labtest.Until(t, fmt.Sprintf("lab up to create %d namespaces", after), func() (bool, error) {
		return len(namespacesOf(name)) >= after, nil
	})
	return cmd
}

// TestInterruptDuringUpRemovesPartialLab: Ctrl-C (SIGINT) and SIGTERM while a lab is
// being created remove what was created.
func TestInterruptDuringUpRemovesPartialLab(t *testing.T) {
	privtest.Require(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			name := labtest.UniqueName()
			t.Cleanup(func() { testlab.Down(name) })
			cmd := startUpUntil(t, nil, name, 200, 5)
			at := time.Now()
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			t.Logf("lab up exited (%v) %v after %v", err, time.Since(at).Round(time.Microsecond), sig)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(sig) {
				t.Errorf("interrupted up: %v, want exit %d", err, 128+int(sig))
			}
			if ns := namespacesOf(name); len(ns) != 0 {
				t.Errorf("%d namespaces left after %v during up", len(ns), sig)
			}
			if _, err := testlab.ReadState(name); err == nil {
				t.Errorf("state file left after %v during up", sig)
			}
		})
	}
}

// TestDownAllRemovesCrashLeftovers: a lab whose creator is SIGKILLed mid-up is found
// by prefix and fully removed by `lab down --all`. The test runs inside a private
// mount namespace with its own /run/netns and /run/pktlab, so that --all sees only
// this test's lab and not those of tests running in parallel.
func TestDownAllRemovesCrashLeftovers(t *testing.T) {
	privtest.Require(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) is needed: %v", err)
	}
	script := `set -e
mount -t tmpfs pktlab-test /run/netns
mount -t tmpfs pktlab-test /run/pktlab
"$PKTLAB" lab up "$TOPO" >/dev/null 2>&1 &
pid=$!
i=0
while [ "$(ls /run/netns | wc -l)" -lt 10 ]; do i=$((i+1)); [ $i -lt 20000 ] || exit 9; done
kill -9 $pid
wait $pid || true
echo "namespaces-after-kill $(ls /run/netns | wc -l)"
"$PKTLAB" lab ls
"$PKTLAB" lab down --all
echo "namespaces-after-down $(ls /run/netns | wc -l)"
echo "states-after-down $(ls /run/pktlab | wc -l)"
`
	os.MkdirAll("/run/netns", 0o755)
	os.MkdirAll(testlab.StateDir, 0o755)
	name := labtest.UniqueName()
	topo := writeTopo(t, chainYAML(name, 200))
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "PKTLAB="+pktlabBin, "TOPO="+topo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	var afterKill, afterDown, statesAfter int
	fmt.Sscanf(s[strings.Index(s, "namespaces-after-kill"):], "namespaces-after-kill %d", &afterKill)
	fmt.Sscanf(s[strings.Index(s, "namespaces-after-down"):], "namespaces-after-down %d", &afterDown)
	fmt.Sscanf(s[strings.Index(s, "states-after-down"):], "states-after-down %d", &statesAfter)
	if afterKill < 10 || afterKill >= 200 {
		t.Errorf("after SIGKILL: %d namespaces; want a partial lab (10..199)\n%s", afterKill, s)
	}
	if !strings.Contains(s, name) || !strings.Contains(s, "orphaned") {
		t.Errorf("lab ls does not show %s as orphaned:\n%s", name, s)
	}
	if !strings.Contains(s, fmt.Sprintf("removed 1 labs, %d namespaces", afterKill)) {
		t.Errorf("down --all did not report removing the lab and its %d namespaces:\n%s", afterKill, s)
	}
	if afterDown != 0 || statesAfter != 0 {
		t.Errorf("after down --all: %d namespaces, %d state files; want none\n%s", afterDown, statesAfter, s)
	}
}

// TestIPNetnsAddBesideLab: a user's `ip netns add` while a lab is up (iproute2 then
// makes /run/netns a mount point if it is not one) must not strand the lab's
// namespaces: lab down still removes them all. Run in a private mount namespace with
// a fresh /run, where /run/netns starts as a plain directory, as after boot.
func TestIPNetnsAddBesideLab(t *testing.T) {
	privtest.Require(t)
	for _, prog := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s is needed: %v", prog, err)
		}
	}
	script := `set -e
mount -t tmpfs pktlab-test /run
"$PKTLAB" lab up "$TOPO" >/dev/null
ip netns add "pktlab-$LAB-ip"
ip netns delete "pktlab-$LAB-ip"
"$PKTLAB" lab down "$LAB"
echo "namespaces-after-down $(ls /run/netns | wc -l)"
`
	name := labtest.UniqueName()
	topo := writeTopo(t, chainYAML(name, 3))
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "PKTLAB="+pktlabBin, "TOPO="+topo, "LAB="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "namespaces-after-down 0") {
		t.Errorf("lab down after ip netns add left namespaces behind:\n%s", out)
	}
}
