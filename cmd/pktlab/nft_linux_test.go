package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
)

const nftLab = `
nodes:
  client:
    interfaces:
      eth0: [198.18.1.2/24]
    routes: [default via 198.18.1.1]
  router:
    forward: true
    interfaces:
      eth0: [198.18.1.1/24]
      eth1: [198.19.2.1/24]
  server:
    interfaces:
      eth0: [198.19.2.2/24]
    routes: [default via 198.19.2.1]
links:
  - [client:eth0, router:eth0]
  - [router:eth1, server:eth0]
`

// TestNftCommands drives `pktlab nft` and `pktlab nat` as a user would: apply a file,
// list it (equal to nft's own listing), read counters as JSON after traffic, trace a
// packet, see its conntrack entry, reject a bad file with exit 2 and file:line:col,
// and flush only pktlab's tables.
func TestNftCommands(t *testing.T) {
	lab := labtest.Start(t, nftLab)
	name := lab.Name()
	rules := filepath.Join(t.TempDir(), "rules.nft")
	os.WriteFile(rules, []byte(`table ip demo {
	chain forward {
		type filter hook forward priority filter; policy accept;
		udp dport 5353 counter accept
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" masquerade
	}
}
`), 0o644)
	if _, stderr, code := run(t, "nft", name, "router", "apply", rules); code != 0 {
		t.Fatalf("apply: exit %d: %s", code, stderr)
	}
	router := lab.Node("router")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // a bound on a loaded machine, not a sync point
	defer cancel()
	// A table pktlab did not apply: flush without --all must keep it.
	if out, err := router.Exec(ctx, "nft", "add", "table", "ip", "other"); err != nil {
		t.Fatalf("nft add table: %v %s", err, out)
	}
	nftOut, err := router.Exec(ctx, "nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	list, _, code := run(t, "nft", name, "router", "list")
	if code != 0 || list != string(nftOut) {
		t.Errorf("pktlab nft list (exit %d):\n%s\nnft list ruleset:\n%s", code, list, nftOut)
	}

	trace := exec.Command(pktlabBin, "nft", name, "router", "trace", "-f", "udp dport 5353", "--count", "1", "--timeout", "10s")
	var traceOut strings.Builder
	trace.Stdout = &traceOut
	stderr, err := trace.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the tracer says it is subscribed and its chain is in place.
	ready, err := bufio.NewReader(stderr).ReadString('\n')
	if !strings.HasPrefix(ready, "pktlab: tracing packets matching udp dport 5353") {
		t.Fatalf("trace did not start: %q %v", ready, err)
	}
	labtest.SendUDP(t, lab.Node("client"), "198.19.2.2:5353")
	if err := trace.Wait(); err != nil {
		t.Fatalf("trace: %v", err)
	}
	tr := traceOut.String()
	if !strings.Contains(tr, "forward -> postrouting -> accept") {
		t.Errorf("trace output lacks the forwarded path:\n%s", tr)
	}
	// The lines of `nft monitor trace`, with the hook after the chain; rule text from
	// the node's ruleset (counter values as read while tracing).
	for _, re := range []string{
		`(?m)^trace id [0-9a-f]{8} ip demo forward packet: iif "eth0" oif "eth1" ether saddr [0-9a-f:]{17} ether daddr [0-9a-f:]{17} ip saddr 198\.18\.1\.2 ip daddr 198\.19\.2\.2 .* udp dport 5353 udp length 14$`,
		`(?m)^trace id [0-9a-f]{8} ip demo forward \(forward\) rule udp dport 5353 counter packets [01] bytes (0|29) accept \(verdict accept\)$`,
		`(?m)^trace id [0-9a-f]{8} ip demo post \(postrouting\) rule oifname "eth1" masquerade \(verdict accept\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(tr) {
			t.Errorf("trace output lacks a line matching %s:\n%s", re, tr)
		}
	}

	out, _, code := run(t, "nft", name, "router", "counters", "--json")
	var rows []struct {
		Chain   string `json:"chain"`
		Rule    string `json:"rule"`
		Packets uint64 `json:"packets"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 {
		t.Fatalf("counters --json: exit %d, %v\n%s", code, err, out)
	}
	found := false
	for _, r := range rows {
		if r.Chain == "forward" && strings.HasPrefix(r.Rule, "udp dport 5353 counter") {
			found = r.Packets == 1
		}
	}
	if !found {
		t.Errorf("forward rule counter is not 1: %+v", rows)
	}

	ct, _, code := run(t, "nat", name, "router", "conntrack")
	if code != 0 || !strings.Contains(ct, "src=198.18.1.2 dst=198.19.2.2") || !strings.Contains(ct, "src=198.19.2.2 dst=198.19.2.1 sport=5353") {
		t.Errorf("conntrack (exit %d) lacks the masqueraded entry:\n%s", code, ct)
	}
	ct, _, _ = run(t, "nat", name, "router", "conntrack", "--json")
	checkSchema(t, "nat conntrack --json", ct, "conntrack")
	if !strings.Contains(ct, `"reply":{"src":"198.19.2.2","dst":"198.19.2.1","sport":5353`) {
		t.Errorf("conntrack --json lacks the masqueraded entry:\n%s", ct)
	}

	bad := filepath.Join(t.TempDir(), "bad.nft")
	os.WriteFile(bad, []byte("table ip bad {\n\tchain c {\n\t\ttcp dport 99999 drop\n\t}\n}\n"), 0o644)
	if _, stderr, code := run(t, "nft", name, "router", "apply", bad); code != 2 || !strings.Contains(stderr, "bad.nft:3:13: \"99999\"") {
		t.Errorf("bad file: exit %d, stderr %q; want exit 2 naming bad.nft:3:13", code, stderr)
	}

	if _, stderr, code := run(t, "nft", name, "router", "flush"); code != 0 {
		t.Fatalf("flush: exit %d %s", code, stderr)
	}
	left, _ := router.Exec(ctx, "nft", "list", "ruleset")
	if strings.Contains(string(left), "demo") || !strings.Contains(string(left), "table ip other") {
		t.Errorf("after flush (pktlab's tables only):\n%s", left)
	}
	if _, _, code := run(t, "nft", name, "router", "flush", "--all"); code != 0 {
		t.Fatal("flush --all failed")
	}
	if left, _ := router.Exec(ctx, "nft", "list", "ruleset"); len(left) != 0 {
		t.Errorf("after flush --all:\n%s", left)
	}
}
