package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server (emersion/go-smtp) keeping every message.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{m: m}, nil }

func (m *mailbox) subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, msg := range m.msgs {
		for _, line := range strings.Split(msg, "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

type mailSession struct{ m *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.m.mu.Lock()
		s.m.msgs = append(s.m.msgs, string(b))
		s.m.mu.Unlock()
	}
	return err
}

// TestDefaultAlertsFire provokes each of the four default alerts with a
// real container — one burning CPU at its limit, one holding memory near
// its limit, one filling a small filesystem, one crash-looping — and checks
// that each alert's notification reaches a webhook receiver and a real SMTP
// server within 60s of its condition's `for` (shortened here to seconds).
func TestDefaultAlertsFire(t *testing.T) {
	buildTestImage(t)
	removeApp("alarm", "default")
	t.Cleanup(func() { removeApp("alarm", "default") })

	var hookMu sync.Mutex
	hooked := map[string]time.Time{} // rule → first firing notification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Text  string
			Kind  string
			Alert struct{ Rule string }
		}
		if json.NewDecoder(r.Body).Decode(&p) == nil && p.Kind == "firing" && p.Text != "" {
			hookMu.Lock()
			if _, ok := hooked[p.Alert.Rule]; !ok {
				hooked[p.Alert.Rule] = time.Now()
			}
			hookMu.Unlock()
		}
	}))
	defer hook.Close()
	box := &mailbox{}
	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := smtp.NewServer(box)
	smtpSrv.Domain, smtpSrv.AllowInsecureAuth = "localhost", true
	go smtpSrv.Serve(smtpLn)
	defer smtpSrv.Close()

	// The four default rules, with `for` shortened so the test is quick.
	rules := writeFile(t, t.TempDir(), "rules.json", `[
  {"name":"cpu-high","metric":"cpu_limit_ratio","op":">","value":0.8,"for":"4s","severity":"warning"},
  {"name":"memory-high","metric":"memory_limit_ratio","op":">","value":0.9,"for":"2s","severity":"critical"},
  {"name":"disk-high","metric":"disk_ratio","op":">","value":0.85,"for":"4s","severity":"warning"},
  {"name":"restarts","metric":"restarts_10m","op":">","value":3,"for":"0s","severity":"critical"}
]`)
	fill := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", fill).CombinedOutput(); err != nil {
		t.Fatalf("mount a small filesystem to fill: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", fill).Run() })

	h := newHaven(t, "docker")
	h.startServerArgs("--alert-rules", rules, "--alert-webhook", hook.URL, "--smtp-addr", smtpLn.Addr().String(), "--alert-email-to", "ops@example.com")
	file := writeFile(t, t.TempDir(), "compose.yaml", fmt.Sprintf(`name: alarm
services:
  cpu:
    image: %[1]s
    environment: {BURN_CPU: "1"}
    deploy: {resources: {limits: {cpus: "0.2"}}}
  memory:
    image: %[1]s
    environment: {LEAK_MB: "4", LEAK_MAX_MB: "52"}
    deploy: {resources: {limits: {memory: 56M}}}
  disk:
    image: %[1]s
    environment: {FILL_DIR: /fill}
    volumes: ["%[2]s:/fill"]
  crash:
    image: %[1]s
    environment: {EXIT_AFTER: 300ms}
`, testImage, fill))
	start := time.Now()
	h.mustRun("up", "-f", file, "--detach")
	want := map[string]time.Duration{"cpu-high": 4 * time.Second, "memory-high": 2 * time.Second, "disk-high": 4 * time.Second, "restarts": 0}
	defer func() {
		if t.Failed() {
			hookMu.Lock()
			t.Logf("webhook got: %v\nmail subjects: %v\nalerts:\n%s", hooked, box.subjects(), h.run("alerts").stdout)
			hookMu.Unlock()
			for _, m := range []string{"cpu_limit_ratio", "memory_limit_ratio", "disk_ratio", "restarts_10m"} {
				t.Logf("%s:\n%s", m, h.run("metrics", m).stdout)
			}
		}
	}()
	waitFor(t, 120*time.Second, "every alert at the webhook and the SMTP server", func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		mail := strings.Join(box.subjects(), "\n")
		for rule := range want {
			if _, ok := hooked[rule]; !ok || !strings.Contains(mail, "[FIRING] "+rule) {
				return false
			}
		}
		return true
	})
	hookMu.Lock()
	defer hookMu.Unlock()
	for rule, forTime := range want {
		took := hooked[rule].Sub(start)
		t.Logf("%-12s notified %5.1fs after the deploy (for %s)", rule, took.Seconds(), forTime)
		// The condition itself needs time to arise (memory grows at 4 MiB/s,
		// the crash loop needs 4 failures); 60s after `for` bounds it all.
		if took > forTime+60*time.Second {
			t.Errorf("%s notified %s after the deploy, more than 60s after its `for`", rule, took)
		}
	}
	list := h.mustRun("alerts")
	for rule := range want {
		if !strings.Contains(list.stdout, rule) || !strings.Contains(list.stdout, "firing") {
			t.Errorf("haven alerts does not show %s firing:\n%s", rule, list.stdout)
		}
	}
}
