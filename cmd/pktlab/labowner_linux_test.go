package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
	"github.com/pktlab/pktlab/labtest"
)

// holdExperiment keeps its lab for minutes: its run is killed or stopped long before.
const holdExperiment = `timeout: 20m
lab:
  nodes:
    a: {interfaces: {eth0: [198.18.0.1/24]}}
    b: {interfaces: {eth0: [198.18.0.2/24]}}
  links: [[a:eth0, b:eth0]]
steps:
  - {sleep: 10m}
`

// TestDownAllKeepsLiveLabs: lab down --all removes what dead creators left and only
// that; lab ls says whose each lab is. In one private mount namespace (so --all sees
// only this test's labs) there are:
//   - U, made by lab up: up, kept;
//   - H, held by a running pktlab run: in use, kept;
//   - K, held by a pktlab run that was SIGKILLed: orphaned while its creator is still a
//     zombie (kill(pid, 0) succeeds on a zombie), removed;
//   - R, whose state names a live pid (this shell) with another start time, as when
//     the kernel reuses a dead creator's pid: orphaned, removed;
//   - O and O2, namespaces with no state file: lab up of O advises lab down O, which
//     removes it; --all removes O2;
//   - C, a corrupt state file beside its namespace: kept by --all, removed by lab down C,
//     which is also what lab up of C advises instead of --all.
func TestDownAllKeepsLiveLabs(t *testing.T) {
	privtest.Require(t)
	for _, prog := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s is needed: %v", prog, err)
		}
	}
	script := `set -e
mount -t tmpfs pktlab-test /run/netns
mount -t tmpfs pktlab-test /run/pktlab
trap 'kill $hold $killed 2>/dev/null || true' EXIT
"$PKTLAB" lab up "$UPTOPO" >/dev/null
"$PKTLAB" run "$EXP" >/dev/null 2>&1 & hold=$!
"$PKTLAB" run "$EXP" >/dev/null 2>&1 & killed=$!
i=0
until [ "$(grep -l '"up": true' /run/pktlab/*.json 2>/dev/null | wc -l)" -eq 3 ]; do
  i=$((i+1)); [ $i -lt 2000000 ] || { echo "labs never came up"; exit 9; }
done
killed_lab=$(grep -l "\"pid\": $killed," /run/pktlab/*.json | xargs basename | sed 's/.json$//')
hold_lab=$(grep -l "\"pid\": $hold," /run/pktlab/*.json | xargs basename | sed 's/.json$//')
kill -9 $killed
until [ ! -e /proc/$killed ] || grep -q '^[0-9]* (.*) Z' /proc/$killed/stat; do :; done
echo "zombie $(grep -c '^[0-9]* (.*) Z' /proc/$killed/stat 2>/dev/null || echo 0)"
cat >/run/pktlab/$R.json <<JSON
{"name": "$R", "source": "name: $R\nnodes:\n  a: {interfaces: {eth0: [198.18.0.1/24]}}\n  b: {interfaces: {eth0: [198.18.0.2/24]}}\nlinks: [[a:eth0, b:eth0]]\n", "pid": $$, "pid_start": 1, "up": true, "held": true}
JSON
ip netns add pktlab-$R-a
ip netns add pktlab-$O-n0
ip netns add pktlab-$O2-n0
echo '{"name": ' >/run/pktlab/$C.json
ip netns add pktlab-$C-a
echo "== up O"
"$PKTLAB" lab up "$OTOPO" 2>&1 || echo "exit $?"
echo "== down O"
"$PKTLAB" lab down $O 2>&1 || echo "exit $?"
ls /run/netns | grep -c "pktlab-$O-" || true
echo "== ls"
"$PKTLAB" lab ls --json
echo "== text"
"$PKTLAB" lab ls
echo "== down --all"
"$PKTLAB" lab down --all
echo "== after"
ls /run/netns | sort | tr '\n' ' '; echo
ls /run/pktlab | sort | tr '\n' ' '; echo
echo "== names"
echo "$killed_lab $hold_lab"
echo "== up C"
"$PKTLAB" lab up "$CTOPO" 2>&1 || echo "exit $?"
echo "== down H"
"$PKTLAB" lab down $hold_lab 2>&1 || echo "exit $?"
echo "== down C"
"$PKTLAB" lab down $C
echo "== stop H"
kill -TERM $hold; wait $hold || true
"$PKTLAB" lab down $U
echo "== end"
ls /run/netns | wc -l
ls /run/pktlab | wc -l
`
	u, r, o, o2, c := labtest.UniqueName(), labtest.UniqueName(), labtest.UniqueName(), labtest.UniqueName(), labtest.UniqueName()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "PKTLAB="+pktlabBin, "UPTOPO="+writeTopo(t, chainYAML(u, 2)),
		"CTOPO="+writeTopo(t, chainYAML(c, 2)), "OTOPO="+writeTopo(t, chainYAML(o, 2)), "O2="+o2, "EXP="+writeFile(t, "hold.yaml", holdExperiment),
		"U="+u, "R="+r, "O="+o, "C="+c)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	section := func(name string) string {
		_, rest, _ := strings.Cut(out, "== "+name+"\n")
		s, _, _ := strings.Cut(rest, "\n== ")
		return s
	}
	names := strings.Fields(section("names"))
	if len(names) != 2 {
		t.Fatalf("the script did not name the two runs' labs:\n%s", out)
	}
	killedLab, holdLab := names[0], names[1]
	var rows []struct {
		Name, Status, Command string
		PID                   int
	}
	if err := json.Unmarshal([]byte(section("ls")), &rows); err != nil {
		t.Fatalf("lab ls --json: %v\n%s", err, out)
	}
	status := map[string]string{}
	for _, row := range rows {
		status[row.Name] = row.Status
		if row.Name == holdLab && (row.PID == 0 || !strings.Contains(row.Command, "run")) {
			t.Errorf("lab ls does not say whose %s is: pid %d command %q", holdLab, row.PID, row.Command)
		}
	}
	want := map[string]string{u: "up", holdLab: "in use", killedLab: "orphaned", r: "orphaned", c: "broken"}
	for name, w := range want {
		if status[name] != w {
			t.Errorf("lab ls: %s is %q, want %q\n%s", name, status[name], w, out)
		}
	}
	if text := section("text"); !strings.Contains(text, "PID") || !strings.Contains(text, "orphaned (pktlab lab down "+killedLab+")") {
		t.Errorf("lab ls text lacks the creator's pid or the advice for an orphan:\n%s", text)
	}
	after := section("after")
	if s := section("up O"); !strings.Contains(s, "pktlab lab down "+o+" removes it") || strings.Contains(s, "--all") {
		t.Errorf("lab up over an orphan namespace must advise lab down %s, never --all:\n%s", o, s)
	}
	if s := section("down O"); !strings.Contains(s, "lab "+o+" removed") || strings.TrimSpace(strings.SplitN(s, "\n", 2)[1]) != "0" {
		t.Errorf("lab down of a lab with only an orphan namespace:\n%s", s)
	}
	for _, gone := range []string{killedLab, r, o2} {
		if strings.Contains(after, gone) {
			t.Errorf("down --all left %s:\n%s", gone, out)
		}
	}
	for _, kept := range []string{u, holdLab, c} {
		if !strings.Contains(after, "pktlab-"+kept+"-") {
			t.Errorf("down --all removed the namespaces of %s, which it must keep:\n%s", kept, out)
		}
	}
	if !strings.Contains(section("down --all"), "removed 2 labs, 4 namespaces") {
		t.Errorf("down --all did not report 2 labs and 4 namespaces (K's two, R's, O's):\n%s", out)
	}
	if s := section("up C"); !strings.Contains(s, "pktlab lab down "+c) || strings.Contains(s, "--all") {
		t.Errorf("lab up over a broken lab must advise lab down %s, never --all:\n%s", c, s)
	}
	if s := section("down H"); !strings.Contains(s, "in use by pid") || !strings.Contains(s, "exit 2") {
		t.Errorf("lab down of a lab in use must be refused with exit 2:\n%s", s)
	}
	if s := section("down C"); !strings.Contains(s, "lab "+c+" removed") {
		t.Errorf("lab down of a corrupt lab:\n%s", s)
	}
	if s := section("end"); strings.Fields(s)[0] != "0" || strings.Fields(s)[1] != "0" {
		t.Errorf("after every lab was removed: %q namespaces and state files, want none\n%s", s, out)
	}
}
