package filter

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var testIfs = InterfaceMap{"lo": 1, "eth0": 2}

// TestCanonicalGolden renders every conformance file without a kernel and compares it
// with its golden file (testdata/conformance/*.golden, the `nft list ruleset` output of
// nft 1.0.6 for the file, checked against the real nft by TestConformance).
func TestCanonicalGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/conformance/*.nft")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Parse(file, src, testIfs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Canonical(rs, testIfs)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".nft") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("canonical rendering (-want +got):\n%s", diff)
			}
			// The canonical form is a fixed point: parsing and rendering it again
			// gives the same text.
			rs2, err := Parse(golden, []byte(got), testIfs)
			if err != nil {
				t.Fatalf("reparse canonical form: %v", err)
			}
			again, err := Canonical(rs2, testIfs)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("canonical form is not stable (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top level", "tabel ip t {}", `f.nft:1:1: "tabel": unexpected token, expected "table", "add" or "flush"`},
		{"unterminated string", "table ip t { chain c { log prefix \"x\n} }", `f.nft:1:35: '"': unterminated string`},
		{"bad character", "table ip t { chain c { accept ~ } }", `f.nft:1:31: "~": unexpected character`},
		{"unsupported family", "table arp t {\n}", `f.nft:1:7: "arp": table family not supported by pktlab (use ip, ip6, inet or netdev)`},
		{"reserved table name", "table ip ct {\n}", `f.nft:1:10: "ct": an nft keyword, which nft rejects as a table name, quoted or not (nft 1.0.6); choose another table name`},
		{"keyword chain name", "table ip t { chain fwd { accept } }", `f.nft:1:20: "fwd": an nft keyword, which nft rejects as a chain name, quoted or not (nft 1.0.6); choose another chain name`},
		{"keyword chain name icmp", "table inet t {\n chain icmp {\n }\n}", `f.nft:2:8: "icmp": an nft keyword, which nft rejects as a chain name, quoted or not (nft 1.0.6); choose another chain name`},
		{"quoted keyword chain name", "table ip t { chain \"fwd\" { accept } }", `f.nft:1:20: "\"fwd\"": nft 1.0.6 accepts no quoted chain names, and fwd is an nft keyword; choose another chain name`},
		{"quoted chain name", "table ip t { chain \"c\" { accept } }", `f.nft:1:20: "\"c\"": nft 1.0.6 accepts no quoted chain names; write c without quotes`},
		{"keyword jump target", "table ip t { chain c { jump mark } }", `f.nft:1:29: "mark": an nft keyword, which nft rejects as a chain name, quoted or not (nft 1.0.6); choose another chain name`},
		{"non-keyword names", "table ip t { chain input { jump filter }\n chain filter { accept } }\n table ip t { chain state { } }", ``},
		{"missing brace", "table ip t chain", `f.nft:1:12: "chain": expected "{"`},
		{"chain keyword", "table ip t {\n foo\n}", `f.nft:2:2: "foo": unexpected token, expected "chain" or "}"`},
		{"bad chain type", "table ip t { chain c { type mangle hook input priority 0; } }", `f.nft:1:29: "mangle": expected chain type "filter", "nat" or "route"`},
		{"bad hook", "table ip t { chain c { type filter hook inbound priority 0; } }", `f.nft:1:41: "inbound": expected hook prerouting, input, forward, output or postrouting`},
		{"netdev hook", "table netdev t { chain c { type filter hook input device \"eth0\" priority 0; } }", `f.nft:1:45: "input": expected hook "ingress" in a netdev table`},
		{"netdev without device", "table netdev t { chain c { type filter hook ingress priority 0; } }", `f.nft:1:53: "priority": netdev base chains need "device NAME" before the priority`},
		{"nat on forward", "table ip t { chain c { type nat hook forward priority 0; } }", `f.nft:1:38: "forward": nat chains hook only prerouting, input, output and postrouting of ip, ip6 and inet tables`},
		{"route not output", "table ip t { chain c { type route hook input priority 0; } }", `f.nft:1:40: "input": route chains hook only output`},
		{"unknown priority", "table ip t { chain c { type filter hook input priority dstnat; } }", `f.nft:1:56: "dstnat": unknown priority for ip input (expected a number or raw, mangle, dstnat, filter, security, srcnat where valid)`},
		{"bad offset", "table ip t { chain c { type filter hook input priority filter + x; } }", `f.nft:1:65: "x": expected a priority offset`},
		{"policy in regular chain", "table ip t { chain c { policy drop; } }", `f.nft:1:24: "policy": policy is only valid in a base chain (give type, hook and priority first)`},
		{"bad policy", "table ip t { chain c { type filter hook input priority 0; policy reject; } }", `f.nft:1:66: "reject": expected policy "accept" or "drop"`},
		{"type after rules", "table ip t { chain c { accept\n type filter hook input priority 0; } }", `f.nft:2:2: "type": the chain type must come before the rules`},
		{"unknown statement", "table ip t { chain c { foo accept } }", `f.nft:1:24: "foo": unknown match or statement (see docs/nft-subset.md for what pktlab supports)`},
		{"statement after verdict", "table ip t { chain c { accept counter } }", `f.nft:1:31: "counter": statement after terminal statement has no effect (accept at 1:24 ends the rule; nft refuses the rule too)`},
		// nft 1.0.6 refuses each of these with "Statement after terminal statement has
		// no effect" (nft -c, checked in a namespace).
		{"after masquerade", "table ip t { chain c { type nat hook postrouting priority 100;\nmasquerade counter accept\n} }", `f.nft:2:12: "counter": statement after terminal statement has no effect (masquerade at 2:1 ends the rule; nft refuses the rule too)`},
		{"after redirect", "table ip t { chain c { type nat hook prerouting priority -100;\nredirect counter\n} }", `f.nft:2:10: "counter": statement after terminal statement has no effect (redirect at 2:1 ends the rule; nft refuses the rule too)`},
		{"after redirect port", "table ip t { chain c {\ntcp dport 80 redirect to :8080 accept\n} }", `f.nft:2:32: "accept": statement after terminal statement has no effect (redirect at 2:14 ends the rule; nft refuses the rule too)`},
		{"after snat", "table ip t { chain c {\nsnat to 198.18.0.1 counter\n} }", `f.nft:2:20: "counter": statement after terminal statement has no effect (snat at 2:1 ends the rule; nft refuses the rule too)`},
		{"after dnat", "table inet t { chain c {\ndnat ip to 198.18.0.1 accept\n} }", `f.nft:2:23: "accept": statement after terminal statement has no effect (dnat at 2:1 ends the rule; nft refuses the rule too)`},
		{"after reject", "table ip t { chain c {\nreject with tcp reset log\n} }", `f.nft:2:23: "log": statement after terminal statement has no effect (reject at 2:1 ends the rule; nft refuses the rule too)`},
		{"after drop", "table ip t { chain c {\ndrop drop\n} }", `f.nft:2:6: "drop": statement after terminal statement has no effect (drop at 2:1 ends the rule; nft refuses the rule too)`},
		{"counter after notrack", "table ip t { chain c {\nnotrack counter\n} }", ""},
		{"accept after ttl set", "table ip t { chain c {\nip ttl set 3 accept\n} }", ""},
		{"bad address", "table ip t { chain c { ip saddr 300.1.1.1 } }", `f.nft:1:33: "300.1.1.1": not an IPv4 address`},
		{"v6 in v4 field", "table ip t { chain c { ip saddr 2001:db8::1 } }", `f.nft:1:33: "2001:db8::1": not an IPv4 address`},
		{"ip6 in ip table", "table ip t { chain c { ip6 saddr 2001:db8::1 } }", `f.nft:1:24: "ip6": ip6 matches never apply in a ip table`},
		{"host bits", "table ip t { chain c { ip saddr 198.18.1.1/24 } }", `f.nft:1:33: "198.18.1.1/24": prefix has host bits set (did you mean 198.18.1.0/24?)`},
		{"zero prefix", "table ip t { chain c { ip saddr 0.0.0.0/0 } }", `f.nft:1:33: "0.0.0.0/0": a /0 prefix matches everything; leave the match out`},
		{"bad port", "table ip t { chain c { tcp dport 70000 } }", `f.nft:1:34: "70000": not a port number (0-65535)`},
		{"reversed range", "table ip t { chain c { tcp dport 2000-1000 } }", `f.nft:1:34: "2000-1000": range start is above its end`},
		{"bad range", "table ip t { chain c { tcp dport 20-x } }", `f.nft:1:34: "20-x": not a range of this field's values`},
		{"overlapping set", "table ip t { chain c { tcp dport { 10-20, 15 } } }", `f.nft:1:46: "}": set elements overlap`},
		{"unclosed set", "table ip t { chain c { tcp dport { 10 20 } } }", `f.nft:1:39: "20": expected "," or "}"`},
		{"protocol conflict", "table ip t { chain c { tcp dport 1 udp sport 2 } }", `f.nft:1:40: "sport": conflicts with the rule's earlier protocol match (tcp)`},
		{"tcp flag", "table ip t { chain c { tcp flags syn,foo } }", `f.nft:1:38: "foo": expected a tcp flag (fin, syn, rst, psh, ack, urg, ecn, cwr)`},
		{"tcp flags mask op", "table ip t { chain c { tcp flags & (syn|ack) syn } }", `f.nft:1:46: "syn": expected "==" or "!=" after the flag mask`},
		{"tcp flags not subset", "table ip t { chain c { tcp flags & syn == ack } }", `f.nft:1:43: "ack": the compared flags must be a non-empty subset of the mask`},
		{"icmp type name", "table ip t { chain c { icmp type echo-requset accept } }", `f.nft:1:34: "echo-requset": unknown icmp type (a number 0-255 or one of echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, info-request, info-reply, address-mask-request, address-mask-reply)`},
		{"icmp type in set", "table inet t { chain c { icmp type { echo-request, ping } } }", `f.nft:1:52: "ping": unknown icmp type (a number 0-255 or one of echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, info-request, info-reply, address-mask-request, address-mask-reply)`},
		{"icmpv6 type name", "table ip6 t { chain c { icmpv6 type neighbor-solicit } }", `f.nft:1:37: "neighbor-solicit": unknown icmpv6 type (a number 0-255 or one of destination-unreachable, packet-too-big, time-exceeded, parameter-problem, echo-request, echo-reply, mld-listener-query, mld-listener-report, mld-listener-done, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, router-renumbering, ind-neighbor-solicit, ind-neighbor-advert, mld2-listener-report)`},
		{"icmpv6 name for icmp", "table ip t { chain c { icmp type nd-neighbor-solicit } }", `f.nft:1:34: "nd-neighbor-solicit": unknown icmp type (a number 0-255 or one of echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, info-request, info-reply, address-mask-request, address-mask-reply)`},
		{"icmp type number", "table ip t { chain c { icmp type 256 } }", `f.nft:1:34: "256": unknown icmp type (a number 0-255 or one of echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, info-request, info-reply, address-mask-request, address-mask-reply)`},
		{"icmp code name", "table ip t { chain c { icmp code port-unreach } }", `f.nft:1:34: "port-unreach": unknown icmp code (a number 0-255 or one of net-unreachable, host-unreachable, prot-unreachable, port-unreachable, frag-needed, net-prohibited, host-prohibited, admin-prohibited)`},
		{"icmpv6 code name", "table ip6 t { chain c { icmpv6 code frag-needed } }", `f.nft:1:37: "frag-needed": unknown icmpv6 code (a number 0-255 or one of no-route, admin-prohibited, addr-unreachable, port-unreachable, policy-fail, reject-route)`},
		{"icmp type range", "table ip t { chain c { icmp type 0-8 } }", `f.nft:1:34: "0-8": unknown icmp type (a number 0-255 or one of echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, info-request, info-reply, address-mask-request, address-mask-reply)`},
		{"icmp field", "table ip t { chain c { icmp mtu 1500 } }", `f.nft:1:29: "mtu": expected icmp type, code, id or sequence`},
		{"icmp after tcp", "table ip t { chain c { tcp dport 22 icmp type echo-request } }", `f.nft:1:42: "type": conflicts with the rule's earlier protocol match (tcp)`},
		{"icmp id after other type", "table ip t { chain c { icmp type destination-unreachable icmp id 5 } }", `f.nft:1:63: "id": icmp id only exists in echo messages, but the rule matches icmp type destination-unreachable (nft: incompatible icmp match)`},
		{"icmpv6 sequence after type set", "table ip6 t { chain c { icmpv6 type { echo-request, packet-too-big } icmpv6 sequence 1 } }", `f.nft:1:77: "sequence": icmpv6 sequence only exists in echo messages, but the rule matches icmpv6 type { packet-too-big, echo-request } (nft: incompatible icmp match)`},
		{"icmp then ip6 in inet", "table inet t { chain c { icmp type echo-request ip6 saddr 2001:db8::1 } }", `f.nft:1:49: "ip6": conflicting protocols specified: ip vs. ip6 (the rule already matches only ip packets)`},
		{"ip then ip6 in inet", "table inet t { chain c { ip saddr 198.18.0.1 ip6 saddr 2001:db8::1 } }", `f.nft:1:46: "ip6": conflicting protocols specified: ip vs. ip6 (the rule already matches only ip packets)`},
		{"ct state", "table ip t { chain c { ct state bogus } }", `f.nft:1:33: "bogus": expected a ct state (invalid, established, related, new, untracked)`},
		{"ct key", "table ip t { chain c { ct mark 1 } }", `f.nft:1:27: "mark": expected "state"`},
		{"numgen mode", "table ip t { chain c { numgen seq mod 2 0 } }", `f.nft:1:31: "seq": expected numgen mode "inc" or "random"`},
		{"numgen value", "table ip t { chain c { numgen inc mod 2 2 } }", `f.nft:1:41: "2": expected a number below the modulus 2`},
		{"numgen mod zero", "table ip t { chain c { numgen inc mod 0 0 } }", `f.nft:1:39: "0": expected a modulus above 0`},
		{"meta key", "table ip t { chain c { meta priority 1 } }", `f.nft:1:29: "priority": expected meta l4proto, nfproto, protocol, mark or nftrace`},
		{"nftrace value", "table ip t { chain c { meta nftrace set 2 } }", `f.nft:1:41: "2": meta nftrace set takes 0 or 1`},
		{"mark value", "table ip t { chain c { meta mark set x } }", `f.nft:1:38: "x": not a 32-bit mark`},
		{"ttl value", "table ip t { chain c { ip ttl set 300 } }", `f.nft:1:35: "300": not a number (0-255)`},
		{"ip field", "table ip t { chain c { ip id 1 } }", `f.nft:1:27: "id": expected ip saddr or daddr, protocol or ttl`},
		{"log prefix", "table ip t { chain c { log prefix x } }", `f.nft:1:35: "x": expected a quoted prefix of at most 127 characters`},
		{"log group", "table ip t { chain c { log group x } }", `f.nft:1:34: "x": expected a log group number (0-65535)`},
		{"counter values", "table ip t { chain c { counter packets 1 foo 2 } }", `f.nft:1:42: "foo": expected "bytes"`},
		{"jump name", "table ip t { chain c { jump 1x } }", `f.nft:1:29: "1x": expected chain name`},
		{"jump unknown chain", "table ip t { chain c { jump nowhere } }", `f.nft:1:24: "nowhere": jump to a chain that table ip t does not have`},
		{"reject in netdev", "table netdev t { chain c { reject } }", `f.nft:1:28: "reject": reject is not supported in netdev tables by pktlab`},
		{"reject icmpv6 in ip", "table ip t { chain c { reject with icmpv6 type no-route } }", `f.nft:1:36: "icmpv6": reject with icmpv6 is not valid in a ip table`},
		{"reject icmpx in ip", "table ip t { chain c { reject with icmpx type no-route } }", `f.nft:1:36: "icmpx": reject with icmpx is not valid in a ip table`},
		{"reject code", "table ip t { chain c { reject with icmp type bogus } }", `f.nft:1:46: "bogus": unknown icmp reject type`},
		{"reject with", "table ip t { chain c { reject with foo } }", `f.nft:1:36: "foo": expected "tcp reset", "icmp type", "icmpv6 type" or "icmpx type"`},
		{"nat in netdev", "table netdev t { chain c { snat to 1.2.3.4 } }", `f.nft:1:28: "snat": snat is not valid in a netdev table`},
		{"nat family in inet", "table inet t { chain c { snat to 198.18.1.1 } }", `f.nft:1:31: "to": in an inet table write "snat ip to" or "snat ip6 to"`},
		{"nat family mismatch", "table ip t { chain c { snat ip6 to 2001:db8::1 } }", `f.nft:1:29: "ip6": ip6 address family in a ip table`},
		{"nat port without l4", "table ip t { chain c { dnat to 198.18.1.1:80 } }", `f.nft:1:24: "dnat": a port mapping needs a tcp or udp match earlier in the rule`},
		{"nat bad address", "table ip t { chain c { dnat to 198.18.1 } }", `f.nft:1:32: "198.18.1": not an IPv4 address`},
		{"nat map key", "table ip t { chain c { dnat to numgen inc mod 2 map { x : 198.18.1.1 } } }", `f.nft:1:55: "x": expected a map key number`},
		{"redirect port", "table ip t { chain c { tcp dport 1 redirect to 80 } }", `f.nft:1:48: "80": expected ":PORT"`},
		{"redirect without l4", "table ip t { chain c { redirect to :80 } }", `f.nft:1:24: "redirect": a port mapping needs a tcp or udp match earlier in the rule`},
		{"iif unknown", "table ip t { chain c { iif \"eth9\" } }", `f.nft:1:28: "\"eth9\"": interface "eth9" does not exist in the node`},
		{"ifname too long", "table ip t { chain c { iifname \"abcdefghijklmnopq\" } }", `f.nft:1:32: "\"abcdefghijklmnopq\"": not an interface name (1-15 printable characters, no wildcards)`},
		{"add rule unknown table", "add rule ip t c accept", `f.nft:1:13: "t": no such table ip t (add it first)`},
		{"add rule unknown chain", "add table ip t\nadd rule ip t c accept", `f.nft:2:15: "c": no such chain in table ip t (add it first)`},
		{"add what", "add set ip t s", `f.nft:1:5: "set": expected "table", "chain" or "rule" after "add"`},
		{"flush what", "flush table ip t", `f.nft:1:7: "table": expected "ruleset" (pktlab supports only "flush ruleset")`},
		{"flush late", "table ip t {\n}\nflush ruleset", `f.nft:3:1: "flush": flush ruleset must come before any table in the file`},
		{"eof in chain", "table ip t { chain c {", `f.nft:1:23: end of file: unexpected end of file, expected "}"`},
		{"junk after rule end", "table ip t { chain c { type filter hook input priority 0 policy drop; } }", `f.nft:1:58: "policy": unexpected token, expected end of line or ';'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Parse("f.nft", []byte(tc.src), testIfs)
			if err == nil {
				_, err = Compile(rs)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v (%T), want a *ParseError", err, err)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParse checks that the parser never panics, and that whatever it accepts compiles
// and renders to a canonical form that parses again to the same form.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/conformance/*.nft")
	for _, file := range files {
		src, _ := os.ReadFile(file)
		f.Add(src)
	}
	f.Add([]byte("table ip t { chain c { tcp flags & (syn|ack) == syn } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		rs, err := Parse("fuzz.nft", src, testIfs)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError: %v", err, err)
			}
			return
		}
		out, err := Canonical(rs, testIfs)
		if err != nil {
			return
		}
		if strings.Contains(out, "# pktlab:") {
			t.Fatalf("accepted input does not decompile:\n%s\n%s", src, out)
		}
		rs2, err := Parse("canonical.nft", []byte(out), testIfs)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, out)
		}
		out2, err := Canonical(rs2, testIfs)
		if err != nil || out2 != out {
			t.Fatalf("canonical form not stable (%v):\n%s\n---\n%s", err, out, out2)
		}
	})
}

// TestValidate: Validate reports parse and compile errors with their position, and
// accepts interface names before any node exists.
func TestValidate(t *testing.T) {
	if _, err := Validate("ok.nft", []byte("table inet t {\n chain c {\n  iif \"eth7\" ip ttl set 3 accept\n }\n}\n"), nil); err != nil {
		t.Errorf("valid file: %v", err)
	}
	for _, tc := range []struct{ src, want string }{
		{"table ip t {\n chain c {\n  masquerade counter\n }\n}\n", `v.nft:3:14: "counter": statement after terminal statement has no effect (masquerade at 3:3 ends the rule; nft refuses the rule too)`},
		{"table ip t {\n chain c {\n  jump nowhere\n }\n}\n", `v.nft:3:3: "nowhere": jump to a chain that table ip t does not have`},
	} {
		_, err := Validate("v.nft", []byte(tc.src), nil)
		var pe *ParseError
		if !errors.As(err, &pe) || err.Error() != tc.want {
			t.Errorf("Validate(%q) = %v, want %s", tc.src, err, tc.want)
		}
	}
}
