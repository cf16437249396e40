package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAuditSinks: a server started with --audit-webhook and --audit-syslog
// sends every record, in order and exactly as in its file, to an HTTP
// receiver and to a TCP syslog receiver; a server whose sink is dead
// still answers at once and keeps every record locally.
func TestAuditSinks(t *testing.T) {
	var mu sync.Mutex
	var hooked, logged []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooked = append(hooked, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					size, err := br.ReadString(' ')
					if err != nil {
						return
					}
					n, _ := strconv.Atoi(strings.TrimSpace(size))
					msg := make([]byte, n)
					if _, err := io.ReadFull(br, msg); err != nil {
						return
					}
					// <109>1 TIME HOST haven - audit - JSON
					if parts := strings.SplitN(string(msg), " ", 8); len(parts) == 8 && parts[0] == "<109>1" {
						mu.Lock()
						logged = append(logged, parts[7])
						mu.Unlock()
					}
				}
			}()
		}
	}()

	h := newHaven(t, "process")
	h.startServerArgs("--audit-webhook", hook.URL+"/audit", "--audit-syslog", "tcp://"+ln.Addr().String())
	file := processCompose(t, t.TempDir(), "sink", 1, nil)
	h.mustRun("deploy", "-f", file)
	h.mustRun("scale", "web=2")
	t.Cleanup(func() { h.run("down") })
	h.mustRun("audit", "verify")

	path := filepath.Join(h.dataDir, "audit.log")
	local := auditLines(t, path)
	waitFor(t, 20*time.Second, "both receivers to have every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooked) >= len(local) && len(logged) >= len(local)
	})
	mu.Lock()
	for name, got := range map[string][]string{"webhook": hooked, "syslog": logged} {
		if strings.Join(got[:len(local)], "\n") != strings.Join(local, "\n") {
			t.Errorf("%s received, in order:\n%s\nthe file holds:\n%s", name, strings.Join(got, "\n"), strings.Join(local, "\n"))
		}
	}
	mu.Unlock()

	// A dead sink: nobody listens there.
	h.stopServer(t)
	dead := freeAddr(t)
	h.startServerArgs("--audit-webhook", "http://"+dead+"/audit", "--audit-syslog", "tcp://"+dead)
	start := time.Now()
	h.mustRun("scale", "web=1")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("scale took %s with dead sinks", took)
	}
	if got := auditLines(t, path); len(got) < len(local)+2 || !strings.Contains(strings.Join(got[len(local):], "\n"), `"action":"scale"`) {
		t.Errorf("the local trail lacks the scale made while the sinks were dead:\n%s", strings.Join(got[len(local):], "\n"))
	}
	h.mustRun("audit", "verify")
}
