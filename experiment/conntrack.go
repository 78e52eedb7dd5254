package experiment

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pktlab/pktlab/nat"
)

// ctWatch puts every node's conntrack events (ctnetlink, through the nat package) on
// the timeline. Nodes where nothing uses connection tracking simply send none.
type ctWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (r *run) startConntrack() *ctWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &ctWatch{cancel: cancel}
	for _, n := range r.lab.Nodes() {
		ct, err := nat.ForNode(n)
		if err != nil {
			continue
		}
		ch, _, err := ct.Watch(ctx)
		if err != nil {
			r.tl.Note(r.tl.Start, n.Name(), "conntrack events not watched: "+err.Error())
			continue
		}
		w.wg.Add(1)
		go func(node string) {
			defer w.wg.Done()
			for ev := range ch {
				r.tl.Add(ev.Time, node, ev.Record())
			}
		}(n.Name())
	}
	return w
}

func (w *ctWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}

// checkConntrack reads the node's conntrack table now and counts entries whose
// conntrack(8)-style text contains every given piece.
func (r *run) checkConntrack(ctx context.Context, m *CTMatch) (want string, pass bool, seen string) {
	want = fmt.Sprintf("on %s, %s conntrack entr(y/ies) with %q", m.Node, countWord(m.Count), strings.Join(m.Has, `" and "`))
	ct, err := nat.ForNode(r.lab.Node(m.Node))
	if err != nil {
		return want, false, err.Error()
	}
	entries, err := ct.List(ctx)
	if err != nil {
		return want, false, err.Error()
	}
	n := 0
	var lines []string
	for _, e := range entries {
		s := e.String()
		ok := true
		for _, h := range m.Has {
			ok = ok && strings.Contains(s, h)
		}
		if ok {
			n++
		}
		lines = append(lines, "\n      "+s)
	}
	pass = m.Count.holds(n)
	if len(lines) == 0 {
		lines = []string{" (table empty)"}
	}
	return want, pass, fmt.Sprintf("%d matching; %s's table:%s", n, m.Node, strings.Join(lines, ""))
}
