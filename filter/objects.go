package filter

import (
	"fmt"
	"strings"
)

// Object is a named stateful object of a table read back from a node (nft(8)
// "STATEFUL OBJECTS"). Counters and quotas are listed as nft lists them; any other
// kind (limit, ct helper, ct timeout, ct expectation, secmark, synproxy, tunnel) is
// listed as a marker line saying what it is. pktlab's own rules files cannot declare
// objects.
type Object struct {
	Kind ObjectKind
	Name string
	// Comment is the object's `comment "…"`.
	Comment string
	// Packets and Bytes are a counter's values.
	Packets, Bytes uint64
	// Quota is a quota's limit in bytes, Used what it has consumed; Over is set for
	// `over` (the quota matches once exceeded) rather than `until`.
	Quota, Used uint64
	Over        bool
	// Unsupported says why the object is listed as a marker line.
	Unsupported string
}

// ObjectKind is a stateful object type (NFT_OBJECT_*, include/uapi/linux/netfilter/
// nf_tables.h).
type ObjectKind uint32

// Object kinds pktlab lists as nft does.
const (
	ObjectCounter ObjectKind = 1 // NFT_OBJECT_COUNTER
	ObjectQuota   ObjectKind = 2 // NFT_OBJECT_QUOTA
)

// objectKindNames names every kernel object type as nft writes its declaration.
var objectKindNames = [...]string{ObjectCounter: "counter", ObjectQuota: "quota", 3: "ct helper", 4: "limit",
	5: "connlimit", 6: "tunnel", 7: "ct timeout", 8: "secmark", 9: "ct expectation", 10: "synproxy"}

func (k ObjectKind) String() string {
	if int(k) < len(objectKindNames) && objectKindNames[k] != "" {
		return objectKindNames[k]
	}
	return fmt.Sprintf("object type %d", uint32(k))
}

// renderObject prints an object declaration as nft 1.0.6 lists it (src/rule.c
// obj_print_data): the comment first, then a counter's values or a quota's limit and,
// when not zero, what it used, in the largest unit that divides them.
func renderObject(b *strings.Builder, o *Object) {
	if o.Unsupported != "" {
		b.WriteString("\t" + UnsupportedMarker + ": " + o.Unsupported + "\n")
		return
	}
	fmt.Fprintf(b, "\t%s %s {\n", o.Kind, o.Name)
	if o.Comment != "" {
		fmt.Fprintf(b, "\t\tcomment \"%s\"\n", o.Comment)
	}
	switch o.Kind {
	case ObjectCounter:
		fmt.Fprintf(b, "\t\tpackets %d bytes %d\n", o.Packets, o.Bytes)
	case ObjectQuota:
		b.WriteString("\t\t")
		if o.Over {
			b.WriteString("over ")
		}
		b.WriteString(byteUnits(o.Quota))
		if o.Used != 0 {
			b.WriteString(" used " + byteUnits(o.Used))
		}
		b.WriteString("\n")
	}
	b.WriteString("\t}\n")
}

// byteUnits prints a byte count as nft's get_rate does (src/datatype.c): divided by
// 1024 while it divides evenly, up to mbytes.
func byteUnits(n uint64) string {
	units := [...]string{"bytes", "kbytes", "mbytes"}
	i := 0
	for ; i+1 < len(units) && n != 0 && n%1024 == 0; i++ {
		n /= 1024
	}
	return fmt.Sprintf("%d %s", n, units[i])
}
