package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/haven-platform/haven/internal/api"
)

// TestRemoteTokenReauth: a remote user logged in with `haven login` (a
// 12-hour session) asks for a 90-day CI token. Without --reauth it is
// refused and the error says to add --reauth; with it (the password read
// from standard input, then the code the server asks for once MFA is on)
// the token lives 90 days. A wrong password is refused as a denial (exit
// 5). The password is in no server log nor the audit trail.
func TestRemoteTokenReauth(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	const pw = "ana's long enough password"
	add := exec.Command(h.bin, "--data-dir", h.dataDir, "user", "add", "ana", "--bind", "developer@staging", "--password-stdin")
	add.Stdin = strings.NewReader(pw + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	config := filepath.Join(t.TempDir(), "config")
	home := t.TempDir()
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(h.bin, args...)
		cmd.Env = append(os.Environ(), "HAVEN_CONFIG="+config, "HAVEN_DATA_DIR=", "HOME="+home)
		return cmd
	}
	remote := func(stdin string, args ...string) result {
		t.Helper()
		cmd := command(args...)
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
	ca := filepath.Join(h.dataDir, "tls", "ca.crt")
	if r := remote(pw+"\n", "login", "--server", "https://"+h.apiAddr, "--ca", ca, "--user", "ana", "--password-stdin"); r.code != 0 {
		t.Fatalf("login: %s", r)
	}

	r := remote("", "token", "create", "ci", "--ttl", "2160h")
	if r.code != 2 || !strings.Contains(r.stderr, "would outlive the credential creating it") || !strings.Contains(r.stderr, "add --reauth") {
		t.Fatalf("90 days from a session without --reauth: %s", r)
	}
	if r := remote("a wrong password here\n", "token", "create", "ci", "--ttl", "2160h", "--reauth", "--password-stdin"); r.code != 5 || strings.Contains(r.stdout, "hvn_") {
		t.Fatalf("--reauth with a wrong password: %s", r)
	}
	if r := remote(pw+"\n", "token", "create", "ci", "--ttl", "2160h", "--password-stdin"); r.code != 2 || !strings.Contains(r.stderr, "--reauth") {
		t.Errorf("--password-stdin without --reauth: %s", r)
	}
	created := func(r result) api.TokenResponse {
		t.Helper()
		var resp api.TokenResponse
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &resp) != nil {
			t.Fatalf("token create --reauth: %s", r)
		}
		if got := resp.Info.Expires.Sub(resp.Info.Created); got != 90*24*time.Hour {
			t.Errorf("the CI token lives %v, want 90 days", got)
		}
		return resp
	}
	created(remote(pw+"\n", "-o", "json", "token", "create", "ci", "--ttl", "2160h", "--reauth", "--password-stdin"))

	// With MFA on, --reauth asks for a code after the password. Enrol
	// through the CLI, answering its prompts as a person would.
	enrol := command("mfa", "enable", "--password-stdin")
	stdin, _ := enrol.StdinPipe()
	stdout, _ := enrol.StdoutPipe()
	var enrolErr strings.Builder
	enrol.Stderr = &enrolErr
	if err := enrol.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, pw+"\n")
	lines := bufio.NewScanner(stdout)
	secret := ""
	for secret == "" && lines.Scan() {
		if s, ok := strings.CutPrefix(lines.Text(), "secret:"); ok {
			secret = strings.TrimSpace(s)
		}
	}
	if secret == "" {
		enrol.Wait()
		t.Fatalf("mfa enable printed no secret: %s", enrolErr.String())
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, code+"\n")
	stdin.Close()
	io.Copy(io.Discard, stdout)
	if err := enrol.Wait(); err != nil {
		t.Fatalf("mfa enable: %v\n%s", err, enrolErr.String())
	}
	// The next step's code: the confirming one's step is used up.
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r = remote(pw+"\n"+next+"\n", "-o", "json", "token", "create", "ci-mfa", "--ttl", "2160h", "--reauth", "--password-stdin")
	if !strings.Contains(r.stderr, "current code from your authenticator") {
		t.Errorf("--reauth with MFA on did not ask for a code: %s", r)
	}
	created(r)

	for name, text := range map[string]string{"the server log": h.serverLog(), "the audit trail": readFile(t, filepath.Join(h.dataDir, "audit.log"))} {
		if strings.Contains(text, pw) || strings.Contains(text, "a wrong password here") {
			t.Errorf("%s holds a password", name)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
