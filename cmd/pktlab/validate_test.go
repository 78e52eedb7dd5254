package main

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"

	"strings"
	"testing"
)

// TestDataFlagsExit2: a count, duration, size or field that is out of range exits 2
// with a reason naming the flag, before any lab is looked up (the lab named here does
// not exist, so an error about it would mean the flag got through).
func TestDataFlagsExit2(t *testing.T) {
	send := func(extra ...string) []string {
		return append([]string{"send", "nolab", "a:eth0", "--dst", "198.18.1.1"}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"capture -B 0", []string{"capture", "nolab", "a:eth0", "-B", "0"}, "-B 0: want the receive ring per interface in KiB"},
		{"capture -B negative", []string{"capture", "nolab", "a:eth0", "-B", "-1"}, "-B -1: want the receive ring"},
		{"capture -B over 1 GiB", []string{"capture", "nolab", "a:eth0", "-B", "2000000"}, "-B 2000000: over the 1048576 KiB"},
		{"capture -B huge", []string{"capture", "nolab", "a:eth0", "-B", "99999999999999999"}, "-B 99999999999999999: over the"},
		{"capture -B times interfaces", []string{"capture", "nolab", "a:eth0", "b:eth0", "c:eth0", "-B", "400000"}, "3 interface(s) × 399872 KiB is over the"},
		{"capture -c negative", []string{"capture", "nolab", "a:eth0", "-c", "-5"}, "-c -5: want a number of frames"},
		{"capture --duration negative", []string{"capture", "nolab", "a:eth0", "--duration", "-1s"}, "--duration -1s: want a positive duration"},
		{"capture --print without -w", []string{"capture", "nolab", "a:eth0", "--print"}, "--pcap and --print go with -w FILE"},
		{"send -c 0", send("-c", "0"), "-c 0: want frames to send, 1 to 1000000"},
		{"send -c -1", send("-c", "-1"), "-c -1: want frames to send"},
		{"send -c too many", send("-c", "1000001"), "-c 1000001: want frames to send"},
		{"send --data -1", send("--data", "-1"), "--data -1: want payload bytes, 0 to 65000"},
		{"send --data too big", send("--data", "70000"), "--data 70000: want payload bytes"},
		{"send --data and --payload", send("--data", "10", "--payload", "x"), "give --payload TEXT or --data BYTES, not both"},
		{"send -i negative", send("-i", "-1s"), "-i -1s: want a time between frames"},
		{"send --timeout 0 with --expect", send("--expect", "icmp", "--timeout", "0s"), "--timeout 0s: want how long --expect waits"},
		{"send --data-offset 99", send("--tcp", "--data-offset", "99"), "--data-offset 99: want a TCP data offset in 32-bit words (4 bits), 1 to 15"},
		{"send --wscale 256", send("--tcp", "--wscale", "256"), "--wscale 256: want a shift count (the option's one byte), 0 to 255"},
		{"send --wscale -2", send("--tcp", "--wscale", "-2"), "--wscale -2: want a shift count"},
		{"send --ip-length negative", send("--ip-length", "-3"), "--ip-length -3: want an IPv4 total length"},
		{"send --udp-length over 16 bits", send("--udp", "--udp-length", "70000"), "--udp-length 70000: want a UDP length"},
		{"send --icmp-type 300", send("--icmp-type", "300"), "--icmp-type 300: want an ICMP type, 0 to 255"},
		{"send --src outside the lab ranges", send("--src", "10.0.0.1", "--l3"), "--src 10.0.0.1 is outside the lab ranges"},
		{"send --src of the other family", send("--src", "2001:db8::1"), "want an address of the same family as --dst"},
		{"send --dst outside the lab ranges", []string{"send", "nolab", "a:eth0", "--dst", "8.8.8.8", "--l3"}, "--dst 8.8.8.8 is outside the lab ranges"},
		{"send a TCP flag without --tcp", send("--syn"), "--syn: only with --tcp; this frame is ICMP"},
		{"send a port with ICMP", send("--dport", "80"), "--dport: only with --tcp or --udp"},
		{"send an ICMP field with --udp", send("--udp", "--icmp-id", "3"), "--icmp-id: only with ICMP"},
		{"send a bad --ts", send("--tcp", "--ts", "x:y"), `--ts "x:y": want VAL:ECR`},
		{"send a bad --expect", send("--expect", "tcp port"), `filter "tcp port"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// damagedCaptures writes the damaged files of TestDecodeDamagedFile, made from the
// lab corpus, into dir: their names and the number of frames in each that can be
// decoded.
func damagedCaptures(t *testing.T, dir string) map[string]int {
	t.Helper()
	pcap, err := os.ReadFile("../../rawsock/testdata/corpus.pcap")
	if err != nil {
		t.Fatal(err)
	}
	ng, err := os.ReadFile(corpusNG)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var recs []int
	for o := 24; o < len(pcap); o += 16 + int(le.Uint32(pcap[o+8:])) {
		recs = append(recs, o)
	}
	var epbs []int
	for o := 0; o < len(ng); o += int(le.Uint32(ng[o+4:])) {
		if le.Uint32(ng[o:]) == 6 {
			epbs = append(epbs, o)
		}
	}
	patched := func(src []byte, off int, v uint32) []byte {
		b := append([]byte(nil), src...)
		le.PutUint32(b[off:], v)
		return b
	}
	files := map[string][]byte{
		"caplen-gt-len.pcap":   patched(pcap, recs[2]+12, le.Uint32(pcap[recs[2]+8:])-10),
		"cut.pcap":             pcap[:recs[5]+30],
		"caplen-huge.pcap":     patched(pcap, recs[4]+8, 300000),
		"cut.pcapng":           ng[:epbs[5]+40],
		"caplen-gt-len.pcapng": patched(ng, epbs[2]+24, le.Uint32(ng[epbs[2]+20:])-10),
		"caplen-past.pcapng":   patched(ng, epbs[2]+20, 5000),
		"no-interface.pcapng":  patched(ng, epbs[2]+8, 9),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]int{"caplen-gt-len.pcap": len(recs), "cut.pcap": 5, "caplen-huge.pcap": 4, "cut.pcapng": 5,
		"caplen-gt-len.pcapng": len(epbs), "caplen-past.pcapng": len(epbs) - 1, "no-interface.pcapng": len(epbs) - 1}
}

// TestDecodeDamagedFile: decode prints every frame it can read from a damaged
// file, at least as many as tcpdump -r, says on stderr which file is damaged, at
// which frame and byte, and exits 1; a frame whose capture length exceeds its
// original length is decoded, as tcpdump does, and the file is whole (exit 0).
func TestDecodeDamagedFile(t *testing.T) {
	dir := t.TempDir()
	want := damagedCaptures(t, dir)
	tcpdump, lookErr := exec.LookPath("tcpdump")
	for name, frames := range want {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			out, stderr, code := run(t, "decode", path)
			lines := strings.Count(out, "\n")
			if lines != frames {
				t.Errorf("printed %d frames, want %d:\n%s", lines, frames, stderr)
			}
			whole := strings.HasPrefix(name, "caplen-gt-len")
			switch {
			case whole && code != 0:
				t.Errorf("exit %d, want 0 for a file tcpdump reads whole: %s", code, stderr)
			case !whole && (code != 1 || !strings.Contains(stderr, path+": frame ") || !strings.Contains(stderr, " at byte ")):
				t.Errorf("exit %d, stderr %q; want exit 1 and the file, frame number and byte offset", code, stderr)
			}
			if lookErr != nil {
				if os.Getenv("CI") == "true" {
					t.Fatal("tcpdump not installed; CI must install the Debian package tcpdump")
				}
				return
			}
			td, _ := exec.Command(tcpdump, "-n", "-r", path).Output()
			if n := strings.Count(string(td), "\n"); lines < n {
				t.Errorf("decode printed %d frames, tcpdump -r %d", lines, n)
			} else {
				t.Logf("decode %d frames, tcpdump -r %d", lines, n)
			}
		})
	}
}

// TestDecodeNotACapture: a file that is no capture file is bad input (exit 2), with
// the file named; so is an empty one.
func TestDecodeNotACapture(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"text.txt": "hello, not a capture\n", "empty.pcap": ""} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(data), 0o644)
		_, stderr, code := run(t, "decode", path)
		if code != 2 || !strings.Contains(stderr, path+": not a pcap or pcapng file") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and 'not a pcap or pcapng file'", name, code, stderr)
		}
	}
}
