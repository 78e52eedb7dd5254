//go:build linux

package filter

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Netlink attributes x/sys/unix does not name (include/uapi/linux/netfilter/
// nf_tables.h, enum nft_object_attributes, nft_flowtable_attributes,
// nft_flowtable_hook_attributes, nft_devices_attributes).
const (
	nftaObjUserdata         = 8
	nftaFlowtableTable      = 1
	nftaFlowtableName       = 2
	nftaFlowtableHook       = 3
	nftaFlowtableFlags      = 7
	nftaFlowtableHookNum    = 1
	nftaFlowtableHookPrio   = 2
	nftaFlowtableHookDevs   = 3
	nftaDeviceName          = 1
	nftMsgNewFlowtable      = 0x16
	nftMsgGetFlowtable      = 0x17
	nfQuotaInverted         = unix.NFT_QUOTA_F_INV
	nftaFlowtableFlagsCount = 0x2 // NF_FLOWTABLE_COUNTER
)

// tableObjects dumps the stateful objects of the namespace fd, keyed by tableKey,
// each table's in the kernel's order (the order they were added, which nft keeps).
func tableObjects(fd int) (map[string][]*Object, error) {
	msgs, err := nftDump(fd, unix.NFT_MSG_GETOBJ, unix.NFT_MSG_NEWOBJ, unix.NFPROTO_UNSPEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	out := map[string][]*Object{}
	for _, m := range msgs {
		table, o := decodeObject(m.Data[4:])
		k := tableKey(Family(m.Data[0]), table)
		out[k] = append(out[k], o)
	}
	return out, nil
}

func tableKey(fam Family, table string) string { return fmt.Sprintf("%d/%s", fam, table) }

// decodeObject reads one NFT_MSG_NEWOBJ message's attributes. What pktlab cannot list
// as nft does comes back with Unsupported set.
func decodeObject(b []byte) (table string, o *Object) {
	o = &Object{}
	var data, ud []byte
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case unix.NFTA_OBJ_TABLE:
			table = cString(a.data)
		case unix.NFTA_OBJ_NAME:
			o.Name = cString(a.data)
		case unix.NFTA_OBJ_TYPE:
			o.Kind = ObjectKind(getBE32(a.data))
		case unix.NFTA_OBJ_DATA:
			data = a.data
		case nftaObjUserdata:
			ud = a.data
		}
	}
	comment, udOK := ruleComment(ud)
	o.Comment = comment
	switch {
	case a.bad:
		o.Unsupported = fmt.Sprintf("%s %s: malformed attributes", o.Kind, o.Name)
	case !udOK:
		o.Unsupported = fmt.Sprintf("%s %s: userdata other than a comment", o.Kind, o.Name)
	case !printableQuoted(o.Name) || strings.ContainsAny(o.Name, " {}"):
		o.Unsupported = fmt.Sprintf("%s %q: a name pktlab does not print", o.Kind, o.Name)
	case o.Kind == ObjectCounter:
		o.Bytes = getBE64(attrOf(data, unix.NFTA_COUNTER_BYTES))
		o.Packets = getBE64(attrOf(data, unix.NFTA_COUNTER_PACKETS))
	case o.Kind == ObjectQuota:
		o.Quota = getBE64(attrOf(data, unix.NFTA_QUOTA_BYTES))
		o.Used = getBE64(attrOf(data, unix.NFTA_QUOTA_CONSUMED))
		o.Over = getBE32(attrOf(data, unix.NFTA_QUOTA_FLAGS))&nfQuotaInverted != 0
	default:
		o.Unsupported = fmt.Sprintf("%s %s (only counter and quota objects are listed)", o.Kind, o.Name)
	}
	return table, o
}

// tableFlowtables dumps the flowtables of the namespace fd as marker lines, keyed by
// tableKey: flowtables are not in the subset, and a kernel without flowtable support
// has none.
func tableFlowtables(fd int) (map[string][]string, error) {
	msgs, err := nftDump(fd, nftMsgGetFlowtable, nftMsgNewFlowtable, unix.NFPROTO_UNSPEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list flowtables: %w", err)
	}
	out := map[string][]string{}
	for _, m := range msgs {
		table, line := describeFlowtable(m.Data[4:])
		k := tableKey(Family(m.Data[0]), table)
		out[k] = append(out[k], line)
	}
	return out, nil
}

// describeFlowtable reads one NFT_MSG_NEWFLOWTABLE message's attributes into the
// marker line's text: name, hook, priority, devices and the counter flag.
func describeFlowtable(b []byte) (table, line string) {
	var name, hook string
	var devs []string
	counter := false
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case nftaFlowtableTable:
			table = cString(a.data)
		case nftaFlowtableName:
			name = cString(a.data)
		case nftaFlowtableHook:
			// A flowtable hooks only into ingress (NF_NETDEV_INGRESS).
			hook = fmt.Sprintf(" hook %s priority %d", hookName(FamilyNetdev, Hook(getBE32(attrOf(a.data, nftaFlowtableHookNum)))),
				int32(getBE32(attrOf(a.data, nftaFlowtableHookPrio))))
			d := attrs{b: attrOf(a.data, nftaFlowtableHookDevs)}
			for d.next() {
				if d.typ == nftaDeviceName {
					devs = append(devs, cString(d.data))
				}
			}
		case nftaFlowtableFlags:
			counter = getBE32(a.data)&nftaFlowtableFlagsCount != 0
		}
	}
	line = fmt.Sprintf("flowtable %s%s devices = { %s }", name, hook, strings.Join(devs, ", "))
	if counter {
		line += " counter"
	}
	if a.bad {
		line += " (malformed attributes)"
	}
	return table, line + " (flowtables are not in the subset)"
}
