package ktrace

import (
	"net"
	"testing"
	"time"

	"github.com/pktlab/pktlab/labtest"
)

func TestSmoke(t *testing.T) {
	lab := labtest.Start(t, `
nodes:
  a:
    interfaces:
      eth0: [198.18.0.1/24, 2001:db8::1/64]
  b:
    interfaces:
      eth0: [198.18.0.2/24, 2001:db8::2/64]
links:
  - [a:eth0, b:eth0]
`)
	tr, err := Open(&Options{Congestion: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sa, _ := tr.SubscribeNode(lab.Node("a"))
	sb, _ := tr.SubscribeNode(lab.Node("b"))
	var ln net.Listener
	lab.Node("b").Do(func() (err error) { ln, err = net.Listen("tcp", "198.18.0.2:7000"); return })
	var c net.Conn
	go func() {
		s, err := ln.Accept()
		if err == nil {
			s.Read(make([]byte, 10))
			s.Close()
		}
	}()
	lab.Node("a").Do(func() (err error) { c, err = net.Dial("tcp", "198.18.0.2:7000"); return })
	c.Write([]byte("hi"))
	c.Close()
	lab.Node("a").Do(func() (err error) { c, err = net.Dial("tcp", "198.18.0.2:7001"); return })
	time.Sleep(300 * time.Millisecond)
	ln.Close()
	for {
		select {
		case ev := <-sa.Events():
			if s, ok := ev.(*StateChange); ok {
				t.Logf("%s %x %v: %v -> %v", s.Node, s.Sock, s.Tuple, s.Old, s.New)
			} else {
				t.Logf("%T %+v", ev, ev)
			}
		case ev := <-sb.Events():
			if s, ok := ev.(*StateChange); ok {
				t.Logf("%s %x %v: %v -> %v", s.Node, s.Sock, s.Tuple, s.Old, s.New)
			} else {
				t.Logf("%T %+v", ev, ev)
			}
		case <-time.After(200 * time.Millisecond):
			t.Logf("%+v", tr.Stats())
			return
		}
	}
}
