//go:build linux

package filter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pktlab/pktlab/filter"
	"github.com/pktlab/pktlab/labtest"
)

// TestApplyText: a text of pktlab's subset is compiled and sent by filter (its table
// carries pktlab's mark, so OwnedTables lists it), one beyond it is applied by nft -f
// inside the node (the table is there, unmarked), and one nft refuses is an
// *NFTError with nft's place for it that changes nothing.
func TestApplyText(t *testing.T) {
	ctx := context.Background()
	fw := labtest.Start(t, oneNode).Node("fw")
	subset := "table inet pktlab_sub {\n\tchain c {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tiif \"eth0\" tcp dport 80 drop\n\t}\n}\n"
	beyond := "table arp pktlab_arp {\n\tchain c {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n"
	for _, text := range []string{subset, beyond} {
		if err := filter.ApplyText(ctx, fw, text); err != nil {
			t.Fatalf("apply %q: %v", text, err)
		}
	}
	refused := "add rule arp pktlab_arp c meta nosuchthing 1 accept\n"
	err := filter.ApplyText(ctx, fw, refused)
	var ne *filter.NFTError
	if !errors.As(err, &ne) || ne.Line != 1 || ne.Col == 0 || ne.Msg == "" {
		t.Errorf("apply %q: %v, want nft's error placed on line 1", refused, err)
	}
	conn, err := filter.ForNode(fw)
	if err != nil {
		t.Fatal(err)
	}
	owned, err := conn.OwnedTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range owned {
		names = append(names, fmt.Sprintf("%s %s", tb.Family, tb.Name))
	}
	if fmt.Sprint(names) != "[inet pktlab_sub]" {
		t.Errorf("tables filter wrote: %v, want [inet pktlab_sub]", names)
	}
	out, err := fw.Exec(ctx, "nft", "list", "ruleset")
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	if got := string(out); got != subset+beyond {
		t.Errorf("the node's ruleset, as nft lists it:\n%s\nwant:\n%s", got, subset+beyond)
	}
	if strings.Contains(string(out), "nosuchthing") {
		t.Errorf("the refused text changed the node")
	}
}
