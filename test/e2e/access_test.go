package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// auditLines reads the audit file's records as generic maps, in order.
func auditLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestAuditTrail: every mutating call is recorded with who, what and from
// where; `haven audit verify` names an edited and a deleted record; an
// audit file that cannot be written makes mutating calls fail with 503
// (exit 4) and leaves the store unchanged.
func TestAuditTrail(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "aud", 1, nil)
	h.mustRun("deploy", "-f", file)
	h.mustRun("scale", "web=2")
	t.Cleanup(func() { h.run("down") })

	records := h.mustRun("audit", "-o", "json")
	var recs []struct{ Actor, Action, Target, Source, Result string }
	if err := json.Unmarshal([]byte(records.stdout), &recs); err != nil {
		t.Fatalf("audit json: %v\n%s", err, records.stdout)
	}
	var seen []string
	for _, r := range recs {
		seen = append(seen, r.Actor+" "+r.Action+" "+r.Target+" "+r.Source+" "+r.Result)
	}
	for _, want := range []string{"admin deploy deployments/aud/default local ok", "admin scale deployments/aud/default/scale local ok"} {
		if !strings.Contains(strings.Join(seen, "\n"), want) {
			t.Errorf("audit lacks %q:\n%s", want, strings.Join(seen, "\n"))
		}
	}
	h.mustRun("audit", "verify")

	path := filepath.Join(h.dataDir, "audit.log")
	// Unwritable: refused with 503, nothing changes.
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	r := h.run("scale", "web=3")
	if r.code != 4 || !strings.Contains(r.stderr, "audit trail cannot be written") {
		t.Fatalf("scale with an unwritable audit file: %s", r)
	}
	if d := h.service("web").Desired; d != 2 {
		t.Fatalf("a refused call changed the app: desired %d, want 2", d)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	h.mustRun("scale", "web=1")

	// Edit one record: verify names it.
	lines := auditLines(t, path)
	edited := append([]string(nil), lines...)
	edited[2] = strings.Replace(edited[2], `"actor":"admin"`, `"actor":"mallory"`, 1)
	if edited[2] == lines[2] {
		t.Fatalf("record 3 has no actor admin to edit: %s", lines[2])
	}
	writeLines(t, path, edited)
	r = h.run("audit", "verify")
	if r.code == 0 || !strings.Contains(r.stderr, "record 3") || !strings.Contains(r.stderr, "edited") {
		t.Fatalf("verify after an edit: %s", r)
	}
	// Delete one record instead: verify names the gap.
	deleted := append(append([]string(nil), lines[:4]...), lines[5:]...)
	writeLines(t, path, deleted)
	r = h.run("audit", "verify")
	if r.code == 0 || !strings.Contains(r.stderr, "record 5") {
		t.Fatalf("verify after a deletion: %s", r)
	}
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWrongMasterKeyRefusesToStart: a server given another master key
// says so and exits without touching the data.
func TestWrongMasterKeyRefusesToStart(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	h.mustRun("secret", "set", "db", "--env", "prod", "--file", writeFile(t, t.TempDir(), "v", "s3cret-value"))
	h.server.Process.Signal(os.Interrupt)
	h.server.Wait()
	h.server = nil
	db := filepath.Join(h.dataDir, "haven.db")
	before, _ := os.ReadFile(db)
	r := h.runEnv([]string{"HAVEN_MASTER_KEY=" + strings.Repeat("A", 43) + "="}, "server", "--driver", "process", "--ingress", h.ingress, "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr)
	if r.code == 0 || !strings.Contains(r.stderr, "master key does not match") {
		t.Fatalf("server with a wrong master key: %s", r)
	}
	after, _ := os.ReadFile(db)
	if string(before) != string(after) {
		t.Fatal("the store file changed although the key was wrong")
	}
	h.startServer()
	got := h.mustRun("secret", "get", "db", "--env", "prod")
	if got.stdout != "s3cret-value" {
		t.Fatalf("secret after restart with the right key: %q", got.stdout)
	}
}

// TestRemoteLoginOverTLS: a developer bound to staging logs in over the
// API's TLS listener (trusting the CA the server generated), gets a saved
// context, deploys to staging, and is refused in prod with a 403 naming
// the permission. Without the CA, the TLS handshake fails.
func TestRemoteLoginOverTLS(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	add := exec.Command(h.bin, "--data-dir", h.dataDir, "user", "add", "ana", "--bind", "developer@staging", "--password-stdin")
	add.Stdin = strings.NewReader("a long enough password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	config := filepath.Join(t.TempDir(), "config")
	server := "https://" + h.apiAddr
	ca := filepath.Join(h.dataDir, "tls", "ca.crt")
	remote := func(stdin string, args ...string) result {
		t.Helper()
		cmd := exec.Command(h.bin, args...)
		cmd.Env = append(os.Environ(), "HAVEN_CONFIG="+config, "HAVEN_DATA_DIR=", "HOME="+t.TempDir())
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{stdout: out.String(), stderr: errb.String(), code: code}
	}
	if r := remote("a long enough password\n", "login", "--server", server, "--user", "ana", "--password-stdin"); r.code == 0 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("login without the CA must fail the TLS handshake: %s", r)
	}
	if r := remote("wrong password here\n", "login", "--server", server, "--ca", ca, "--user", "ana", "--password-stdin"); r.code != 5 {
		t.Fatalf("login with a wrong password: %s", r)
	}
	if r := remote("a long enough password\n", "login", "--server", server, "--ca", ca, "--user", "ana", "--password-stdin"); r.code != 0 {
		t.Fatalf("login: %s", r)
	}
	if b, _ := os.ReadFile(config); !strings.Contains(string(b), "hvn_") {
		t.Fatalf("no token saved in the context file:\n%s", b)
	}
	file := processCompose(t, t.TempDir(), "remote", 1, nil)
	if r := remote("", "deploy", "-f", file, "--env", "staging", "--wait", "--timeout", "60s"); r.code != 0 {
		t.Fatalf("developer deploy to staging: %s", r)
	}
	t.Cleanup(func() { h.run("down", "--app", "remote", "--env", "staging") })
	r := remote("", "deploy", "-f", file, "--env", "prod")
	if r.code != 5 || !strings.Contains(r.stderr, "permission app.deploy needed on environment prod") {
		t.Fatalf("developer deploy to prod: %s", r)
	}
	if r := remote("", "secret", "list", "--env", "staging"); r.code != 5 || !strings.Contains(r.stderr, "secret.list") {
		t.Fatalf("developer secret list: %s", r)
	}
}
