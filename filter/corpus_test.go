package filter_test

import (
	"fmt"
	"strings"
)

// The listing corpus: a few thousand rule forms as nft writes them, far beyond the
// subset pktlab parses, for TestListingCorpus. Every rule pktlab lists must be either
// exactly nft's text or an unsupported marker.

var corpusIPv4 = []string{
	"ip saddr 198.18.0.1", "ip saddr != 198.18.0.0/16", "ip daddr 198.18.0.0/15", "ip daddr 198.18.1.1-198.18.1.9",
	"ip saddr { 198.18.0.1, 198.18.2.0/24 }", "ip saddr != { 198.18.0.1, 198.18.0.3 }", "ip saddr 198.18.0.0/23",
	"ip saddr 198.18.0.0/31", "ip daddr 198.18.128.0/17", "ip daddr != 198.18.1.1-198.18.1.9",
	"ip protocol tcp", "ip protocol { tcp, udp }", "ip protocol != 6", "ip protocol 200",
	"ip ttl 64", "ip ttl 1-10", "ip ttl != 255", "ip ttl { 1, 64, 255 }", "ip ttl 0",
	"ip dscp cs1", "ip dscp != 0x04", "ip dscp { cs0, ef }", "ip ecn ce", "ip ecn not-ect", "ip length 100-200", "ip length 20",
	"ip id 5", "ip frag-off & 0x1fff != 0", "ip version 4", "ip hdrlength 5", "ip checksum 0",
	"ip saddr . ip daddr { 198.18.0.1 . 198.18.0.2 }", "ip saddr . tcp dport { 198.18.0.1 . 22, 198.18.0.2 . 80 }",
	"ip saddr @s4", "ip daddr != @s4", "ip saddr . tcp dport @sc", "ip saddr vmap @vm",
	"ip saddr 198.18.0.1 ip daddr 198.18.0.2", "ip daddr 198.18.0.2 ip saddr 198.18.0.1", "ip ttl 64 ip protocol tcp",
	"ip protocol tcp ip ttl 64", "ip saddr 198.18.0.0/24 ip daddr 198.18.1.0/24",
	"ip protocol icmp icmp type echo-request", "ip protocol tcp tcp dport 22", "ip protocol udp udp dport 53",
	"icmp type echo-request", "icmp type { echo-request, echo-reply }", "icmp type != echo-request",
	"icmp code 3", "icmp code port-unreachable", "icmp type destination-unreachable icmp code frag-needed",
	"icmp id 5", "icmp sequence 5", "icmp id 5 icmp sequence 7", "icmp type echo-request icmp id 5",
	"icmp mtu 1500", "icmp gateway 198.18.0.1", "icmp checksum 0", "icmp type 42", "icmp code 200",
	"icmp type redirect icmp gateway 198.18.0.1", "icmp type destination-unreachable icmp mtu 1400",
	"icmp type { destination-unreachable, time-exceeded }", "icmp code != 0",
}

var corpusIPv6 = []string{
	"ip6 saddr 2001:db8::1", "ip6 daddr 2001:db8::/32", "ip6 saddr != 2001:db8:1::/48", "ip6 daddr 2001:db8::1-2001:db8::9",
	"ip6 saddr { 2001:db8::1, 2001:db8:2::/64 }", "ip6 daddr != { 2001:db8::1, 2001:db8::2 }", "ip6 saddr 2001:db8::/33",
	"ip6 nexthdr tcp", "ip6 nexthdr { tcp, udp }", "ip6 nexthdr != 17", "ip6 hoplimit 255", "ip6 hoplimit 1-5",
	"ip6 hoplimit != 64", "ip6 flowlabel 5", "ip6 dscp cs0", "ip6 ecn not-ect", "ip6 length 40", "ip6 version 6",
	"ip6 saddr @s6", "ip6 saddr 2001:db8::1 ip6 daddr 2001:db8::2", "ip6 saddr . ip6 daddr { 2001:db8::1 . 2001:db8::2 }",
	"icmpv6 type echo-request", "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }", "icmpv6 type != echo-reply",
	"icmpv6 code no-route", "icmpv6 code 4", "icmpv6 id 5", "icmpv6 sequence 5", "icmpv6 mtu 1280",
	"icmpv6 max-delay 5", "icmpv6 type packet-too-big icmpv6 mtu 1280", "icmpv6 type echo-reply icmpv6 id 5",
	"icmpv6 type mld-listener-query icmpv6 max-delay 10", "icmpv6 checksum 0", "icmpv6 type 200",
	"ip6 nexthdr ipv6-icmp icmpv6 type echo-request",
	"exthdr frag exists", "ip6 frag frag-off 0", "ip6 hbh nexthdr 6", "exthdr rt missing", "rt type 0",
}

var corpusL4 = []string{
	"tcp dport 22", "tcp dport != 22", "tcp dport 1-1024", "tcp dport != 1-1024", "tcp dport { 22, 80, 443 }",
	"tcp dport { 1-1024, 8080 }", "tcp dport != { 22, 23 }", "tcp sport 1024-65535", "tcp sport 80 tcp dport 1024",
	"tcp dport 80 tcp sport 1024", "tcp sport 0", "tcp dport 65535",
	"tcp flags syn", "tcp flags == syn", "tcp flags != syn", "tcp flags syn / syn,ack", "tcp flags & (syn|ack) == syn",
	"tcp flags & (fin|syn|rst|ack) != syn", "tcp flags { syn, syn|ack }", "tcp flags syn,ack", "tcp flags == 0x0",
	"tcp flags & (syn|fin) == syn|fin", "tcp flags ecn,cwr", "tcp flags rst tcp dport 22", "tcp dport 22 tcp flags syn",
	"tcp sequence 5", "tcp ackseq 5", "tcp window 512", "tcp urgptr 0", "tcp doff 5", "tcp checksum 0",
	"tcp option maxseg size 1460", "tcp option sack-perm exists", "tcp option window kind 3", "tcp option 254 exists",
	"tcp option timestamp tsval 5", "tcp dport @sp", "tcp dport vmap { 22 : accept, 80 : drop }",
	"tcp dport vmap @vp", "tcp dport . tcp sport { 22 . 1024 }",
	"udp dport 53", "udp sport 53 udp dport 53", "udp dport { 53, 123 }", "udp length 8", "udp checksum 0",
	"udp dport != 53", "udp sport 1-1024", "udp dport 53-54",
	"th dport 22", "th sport 1-1024", "th dport { 22, 53 }",
	"sctp dport 5", "dccp dport 5", "udplite dport 5", "esp spi 5", "ah spi 5", "comp cpi 5",
	"meta l4proto tcp", "meta l4proto { tcp, udp }", "meta l4proto != udp", "meta l4proto ipv6-icmp",
	"meta l4proto icmp", "meta l4proto 200", "meta l4proto tcp tcp dport 22", "meta l4proto udp th dport 53",
	"meta l4proto { tcp, udp } th dport 53",
}

var corpusMeta = []string{
	"meta mark 0x00000001", "meta mark != 0x00000002", "meta mark { 0x00000001, 0x00000002 }", "meta mark 0x1-0x5",
	"meta mark and 0xff == 0x1", "meta mark & 0xff00 != 0", "mark 5", "iif lo", "oif lo", "iif != lo", "iif { lo, eth0 }",
	`iifname "eth0"`, `iifname != "eth0"`, `iifname { "eth0", "lo" }`, `iifname "eth*"`, `oifname "lo"`,
	`oifname "veth-pktlab"`, "meta length 100", "meta length 1-100", "meta length != 40",
	"meta skuid 0", "meta skgid 0", "meta skuid 1000-2000", "meta pkttype host", "meta pkttype { broadcast, multicast }",
	"meta pkttype != host", "meta cpu 0", "meta cpu 0-1", "meta iiftype ether", "meta oiftype loopback",
	"meta priority 1:1", "meta priority none", "meta random 5", "meta cgroup 5", "meta iifgroup 0", "meta oifgroup 0",
	"meta rtclassid 1", "meta secpath exists", "meta secpath missing", `meta day "Monday"`, `meta hour "10:00"-"11:00"`,
	"meta iifkind \"veth\"", "meta nfproto ipv4", "meta nfproto ipv6", "meta nfproto { ipv4, ipv6 }",
	"meta l4proto tcp meta length 100", "meta mark 0x00000001 meta mark 0x00000002",
	"numgen inc mod 2 0", "numgen random mod 10 != 5", "numgen inc mod 3 offset 5 6", "numgen inc mod 10 < 5",
	"jhash ip saddr mod 2 0", "jhash ip saddr . tcp dport mod 4 seed 0x5 1", "symhash mod 2 0",
	"fib daddr type local", "fib daddr type { local, broadcast }", "fib saddr . iif oif 0", "fib daddr oif exists",
	"fib saddr . iif oif missing", "rt classid 1", "rt mtu 1500", "socket transparent 1", "socket mark 5",
	"limit rate 10/second", "limit rate over 10/minute", "limit rate 10/second burst 5 packets",
	"limit rate 1 mbytes/second", "limit rate over 1 kbytes/second burst 512 bytes", "limit rate 400/hour",
	"quota 10 mbytes", "quota over 10 mbytes", "quota until 10 mbytes used 1 mbytes", "ct count 5",
	"ct count over 5", "meta time \"2024-01-01 00:00\"-\"2025-01-01 00:00\"",
}

var corpusCt = []string{
	"ct state established", "ct state established,related", "ct state { new, established }", "ct state != invalid",
	"ct state new,untracked", "ct state invalid", "ct state related", "ct state & (new|invalid) == new",
	"ct status dnat", "ct status snat,dnat", "ct status != confirmed", "ct status { seen-reply, assured }",
	"ct direction original", "ct direction reply", "ct mark 0x00000001", "ct mark != 0x00000002", "ct mark { 0x00000001, 0x00000002 }",
	"ct mark and 0xff == 0x1", "ct zone 1", "ct original saddr 198.18.0.1", "ct reply daddr 198.18.0.1",
	"ct original ip saddr 198.18.0.1", "ct reply ip daddr 198.18.0.0/16", "ct original ip6 saddr 2001:db8::1",
	"ct original proto-src 80", "ct reply proto-dst 80", "ct original l3proto ipv4", "ct original protocol tcp",
	"ct expiration 30s", "ct expiration < 1m", `ct helper "ftp"`, "ct label 1", "ct bytes > 1000", "ct packets < 10",
	"ct original bytes > 1000", "ct reply packets 5", "ct id 5", "ct avgpkt 100", "ct original zone 1",
	"ct l3proto ipv4", "ct protocol tcp", "ct original proto-dst { 22, 80 }", "ct state established ct direction reply",
	"ct state new tcp dport 22", "tcp dport 22 ct state new",
}

// Statements that go after any match in a filter chain.
var corpusFilterStmts = []string{
	"counter", "accept", "drop", "return", "continue", "jump sub", "goto sub", "queue", "queue num 1",
	"queue num 1-3 bypass", "queue num 2 fanout", "log", `log prefix "x "`, "log level info", "log level debug",
	"log level emerg", "log flags all", "log flags tcp sequence,options", "log flags ip options", "log flags skuid",
	"log group 1", "log group 2 snaplen 100 queue-threshold 5", `log prefix "p" level err flags ip options`,
	"log group 0", `log prefix "pfx" group 3`, "reject", "reject with icmpx admin-prohibited", "meta mark set 0x5",
	"meta mark set ct mark", "meta mark set 0xffffffff", "meta mark set mark and 0xff", "meta mark set mark or 0x100",
	"meta priority set 1:1", "meta nftrace set 1", "meta nftrace set 0", "ct mark set 0x5", "ct mark set meta mark",
	"ct mark set ct mark or 0x1", "ct zone set 1", "ct label set 1", "ct event set new", "ct event set new,related",
	`ct helper set "ftp-standard"`,
	"limit rate 5/second", "quota 5 mbytes", "counter packets 5 bytes 10", "counter log accept", "counter drop",
	`log prefix "a" drop`, "limit rate 1/second counter accept", "meta mark set 0x1 counter accept",
	"counter meta mark set 0x2", "ct mark set 0x1 accept", "counter accept",
	"add @dyn { ip saddr }", "update @dyn { ip saddr timeout 10s }", "add @dyn { ip saddr limit rate 10/second }",
	"meta pkttype set host", "ip dscp set cs1", "ip ecn set ce", "ip ttl set 5", "ip ttl set 255 accept",
	"ip6 hoplimit set 5", "ip6 dscp set af11", "ip6 flowlabel set 5", "tcp option maxseg size set 1400",
	"tcp option maxseg size set rt mtu", "meta mark set numgen inc mod 2", "meta mark set jhash ip saddr mod 4",
	"ct mark set ip saddr map { 198.18.0.1 : 0x1, 198.18.0.2 : 0x2 }", "meta mark set tcp dport map { 22 : 0x1 }",
	"synproxy", "synproxy mss 1460 wscale 7 timestamp sack-perm", "dup to 198.18.0.1", "dup to 198.18.0.1 device \"lo\"",
	"notrack", "counter name cnt", "quota name q", "limit name lim", "ct helper set \"h\"",
}

// NAT statements, for nat chains of ip (and, with the family written, inet) tables.
var corpusNAT4 = []string{
	"snat to 198.18.0.1", "snat to 198.18.0.1-198.18.0.9", "snat to 198.18.0.1:80", "snat to 198.18.0.1:80-90",
	"snat to 198.18.0.1 random", "snat to 198.18.0.1 fully-random", "snat to 198.18.0.1 persistent",
	"snat to 198.18.0.1 random,persistent", "snat to 198.18.0.0/24", "snat to 198.18.0.1-198.18.0.9:1000-2000",
	"snat to ip saddr map { 198.18.0.1 : 198.18.1.1 }", "snat to ip saddr map @nm",
	"snat ip prefix to ip saddr map { 198.18.0.0/24 : 198.18.1.0/24 }",
	"masquerade", "masquerade random", "masquerade fully-random", "masquerade persistent", "masquerade to :1024-2048",
	"masquerade to :1024", "masquerade random,persistent", "masquerade to :1024 random",
	"redirect", "redirect to :80", "redirect to :80-90", "redirect random", "redirect to :80 persistent",
	"dnat to 198.18.0.1", "dnat to 198.18.0.1:80", "dnat to 198.18.0.1-198.18.0.5:80-82",
	"dnat to numgen inc mod 2 map { 0 : 198.18.0.1, 1 : 198.18.0.2 }",
	"dnat to numgen random mod 2 map { 0 : 198.18.0.1, 1 : 198.18.0.2 }",
	"dnat to jhash ip saddr mod 2 map { 0 : 198.18.0.1, 1 : 198.18.0.2 }",
	"dnat to tcp dport map { 80 : 198.18.0.1, 81 : 198.18.0.2 }",
	"dnat to ip saddr . tcp dport map { 198.18.0.1 . 80 : 198.18.1.1 }",
	"dnat ip addr . port to ip saddr map { 198.18.0.1 : 198.18.1.1 . 8080 }",
	"dnat to 198.18.0.1 persistent", "dnat to 198.18.0.0/30",
	"counter snat to 198.18.0.1", "counter masquerade", "log redirect to :80", "meta mark set 0x1 dnat to 198.18.0.2",
	"snat to 198.18.0.1:0", "dnat to 198.18.0.1:65535",
}

var corpusNAT6 = []string{
	"snat to 2001:db8::1", "snat to [2001:db8::1]:80", "snat to [2001:db8::1]-[2001:db8::9]",
	"snat to [2001:db8::1]:80-90", "snat to 2001:db8::1 random", "dnat to [2001:db8::1]:80",
	"dnat to 2001:db8::/126", "masquerade", "masquerade to :1024-2048", "redirect to :80",
	"dnat to numgen inc mod 2 map { 0 : 2001:db8::1, 1 : 2001:db8::2 }",
}

// corpusRuleset builds the listing corpus as an nft file, and says how many rules it
// holds.
func corpusRuleset() (string, int) {
	var b strings.Builder
	n := 0
	rule := func(s string) {
		fmt.Fprintf(&b, "\t\t%s\n", s)
		n++
	}
	chain := func(name, decl string, rules func()) {
		fmt.Fprintf(&b, "\tchain %s {\n", name)
		if decl != "" {
			fmt.Fprintf(&b, "\t\t%s\n", decl)
		}
		rules()
		b.WriteString("\t}\n")
	}
	with := []string{"", " counter", " drop", ` log prefix "m " accept`, " meta mark set 0x1", " jump sub"}
	filterRules := func(matches []string, stmts []string) func() {
		return func() {
			for _, m := range matches {
				for _, w := range with {
					rule(m + w)
				}
			}
			for _, s := range stmts {
				rule(s)
			}
		}
	}
	sets := func(inet bool) {
		b.WriteString("\tset s4 { type ipv4_addr; elements = { 198.18.0.1, 198.18.0.2 } }\n")
		b.WriteString("\tset s6 { type ipv6_addr; elements = { 2001:db8::1 } }\n")
		b.WriteString("\tset sp { type inet_service; flags interval; elements = { 22, 1000-2000 } }\n")
		b.WriteString("\tset sc { type ipv4_addr . inet_service; elements = { 198.18.0.1 . 22 } }\n")
		b.WriteString("\tset dyn { type ipv4_addr; flags dynamic,timeout; size 1024; }\n")
		b.WriteString("\tmap vm { type ipv4_addr : verdict; elements = { 198.18.0.1 : accept } }\n")
		b.WriteString("\tmap vp { type inet_service : verdict; elements = { 22 : drop } }\n")
		b.WriteString("\tmap nm { type ipv4_addr : ipv4_addr; elements = { 198.18.0.1 : 198.18.1.1 } }\n")
		b.WriteString("\tcounter cnt { }\n\tquota q { 10 mbytes }\n\tlimit lim { rate 10/second }\n")
		b.WriteString("\tct helper h { type \"ftp\" protocol tcp; }\n")
		// Objects no rule refers to, so that their values stay as written.
		b.WriteString("\tcounter c2 { packets 5 bytes 100 }\n\tcounter c3 { comment \"a counter\"; }\n")
		b.WriteString("\tquota qo { over 1536 bytes used 1025 bytes }\n\tquota qm { 1048576 bytes }\n")
		b.WriteString("\tquota qk { until 2048 bytes used 1024 bytes }\n\tquota qc { 5 bytes; comment \"x\"; }\n")
		b.WriteString("\tquota qb { over 3072 mbytes }\n\tquota qz { 0 bytes }\n")
		b.WriteString("\tct timeout tt { protocol tcp; policy = { established: 100 }; }\n")
		b.WriteString("\tsynproxy sy { mss 1460; wscale 7; timestamp sack-perm; }\n")
		if !inet {
			// nft 1.0.6 refuses expectations in inet tables.
			b.WriteString("\tct expectation ex { protocol tcp; dport 21; timeout 1s; size 10; }\n")
		}
	}
	sub := func() { chain("sub", "", func() { rule("counter") }) }
	var l4v4, l4v6 []string
	for _, m := range corpusL4 {
		l4v4 = append(l4v4, m)
		if !strings.Contains(m, "icmp") || strings.Contains(m, "ipv6-icmp") {
			l4v6 = append(l4v6, m)
		}
	}
	all := func(xs ...[]string) []string {
		var out []string
		for _, x := range xs {
			out = append(out, x...)
		}
		return out
	}
	b.WriteString("table ip c4 {\n")
	sets(false)
	sub()
	chain("in", "type filter hook prerouting priority raw; policy accept;", filterRules(all(corpusIPv4, l4v4, corpusMeta, corpusCt), corpusFilterStmts))
	chain("pre", "type nat hook prerouting priority dstnat; policy accept;", filterRules(nil, natRules(corpusNAT4)))
	chain("post", "type nat hook postrouting priority srcnat; policy accept;", filterRules(nil, natRules(corpusNAT4)))
	b.WriteString("}\n")
	b.WriteString("table ip6 c6 {\n")
	sets(false)
	sub()
	chain("in", "type filter hook prerouting priority raw; policy accept;", filterRules(all(corpusIPv6, l4v6), nil))
	chain("post", "type nat hook postrouting priority srcnat; policy accept;", filterRules(nil, natRules(corpusNAT6)))
	b.WriteString("}\n")
	b.WriteString("table inet ci {\n")
	sets(true)
	sub()
	chain("fw", "type filter hook forward priority filter; policy accept;", filterRules(all(corpusIPv4, corpusIPv6, corpusL4, corpusCt[:20]), nil))
	chain("pre", "type filter hook prerouting priority mangle; policy accept;", func() {
		for _, s := range []string{"meta l4proto tcp tproxy ip to 198.18.0.1", "meta l4proto tcp tproxy ip to 198.18.0.1:80",
			"meta l4proto tcp tproxy to :80", "meta l4proto udp tproxy ip6 to [2001:db8::1]:80",
			"meta l4proto tcp tproxy ip to 198.18.0.1 meta mark set 0x1 accept", "tcp dport 80 tproxy to :8080 accept",
			"socket transparent 1 meta mark set 0x1 accept", "ip ttl set 5", "ip6 hoplimit set 5", "tcp dport set 5"} {
			rule(s)
		}
	})
	chain("post", "type nat hook postrouting priority srcnat; policy accept;", func() {
		for _, s := range natRules(corpusNAT4) {
			s = strings.Replace(strings.Replace(s, "snat to", "snat ip to", 1), "dnat to", "dnat ip to", 1)
			rule(s)
		}
		for _, s := range natRules(corpusNAT6) {
			s = strings.Replace(strings.Replace(s, "snat to", "snat ip6 to", 1), "dnat to", "dnat ip6 to", 1)
			rule(s)
		}
	})
	b.WriteString("}\n")
	b.WriteString("table netdev cn {\n")
	chain("ing", `type filter hook ingress device "lo" priority filter; policy accept;`, func() {
		for _, m := range all(corpusIPv4[:20], corpusIPv6[:10], corpusL4[:20]) {
			rule(m + " counter")
		}
		for _, s := range []string{`fwd to "lo"`, `dup to "lo"`, `ip saddr 198.18.0.1 fwd ip to 198.18.0.2 device "lo"`,
			"meta protocol ip", "meta protocol ip6", "meta protocol arp", "meta protocol { ip, ip6 }", "ether saddr 02:00:00:00:00:01",
			"ether type ip", "vlan id 5", "ip ttl set 5", "drop", "meta pkttype set host"} {
			rule(s)
		}
	})
	b.WriteString("}\n")
	b.WriteString("table bridge cb {\n")
	chain("fw", "type filter hook forward priority filter; policy accept;", func() {
		for _, s := range []string{"ether type ip", "ip saddr 198.18.0.1 counter", "meta ibrname \"br0\"", "vlan id 5", "drop"} {
			rule(s)
		}
	})
	b.WriteString("}\n")
	b.WriteString("table arp ca {\n")
	chain("in", "type filter hook input priority filter; policy accept;", func() {
		for _, s := range []string{"arp operation request", "arp htype 1", "counter", "drop"} {
			rule(s)
		}
	})
	b.WriteString("}\n")
	return b.String(), n
}

// natRules gives each NAT statement that maps ports the transport match nft requires
// before it, once as `meta l4proto tcp` and once as `tcp dport 80`, and keeps the
// others as they are.
func natRules(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		if strings.Contains(s, "]:") || strings.Contains(s, "to :") || strings.Contains(s, "port") ||
			strings.Contains(s, ".") && strings.Count(s, ":") > 0 && !strings.Contains(s, "::") && strings.Contains(s, ":8") ||
			strings.Contains(s, ":1") || strings.Contains(s, ":6") || strings.Contains(s, ":0") {
			out = append(out, "meta l4proto tcp "+s, "tcp dport 80 "+s)
			continue
		}
		out = append(out, s)
	}
	return out
}
