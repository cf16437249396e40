package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/haven-platform/haven/internal/client"
)

// TestSecretsNeverLeak sets 1,000 canary secret values, runs containers
// that use every one of them, and then looks for each canary everywhere
// Haven writes: the store file and every file of the data directory (a
// tarball of it too), the server's log, API answers, and audit records.
// None may appear. Then one byte of a stored ciphertext is flipped, and
// reading that secret fails loudly.
func TestSecretsNeverLeak(t *testing.T) {
	buildTestImage(t)
	h := newHaven(t, "docker")
	removeContainers(t, "vault")
	h.startServer()
	token, err := os.ReadFile(filepath.Join(h.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New(filepath.Join(h.dataDir, "haven.sock"), strings.TrimSpace(string(token)), nil)
	ctx := context.Background()

	const n = 1000
	canaries := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range canaries {
		b := make([]byte, 12)
		rand.Read(b)
		canaries[i] = "canary-" + hex.EncodeToString(b)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := cl.SetSecret(ctx, "prod", fmt.Sprintf("s%04d", i), []byte(canaries[i])); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("set secret: %v", err)
	}

	var compose strings.Builder
	compose.WriteString("name: vault\nservices:\n  web:\n    image: " + testImage + "\n    deploy:\n      replicas: 2\n    secrets:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&compose, "      - s%04d\n", i)
	}
	compose.WriteString("    x-haven:\n      routes: [{host: vault.test, port: 8080}]\n      healthcheck: {type: http, path: /healthz, port: 8080, interval: 500ms}\nsecrets:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&compose, "  s%04d:\n    external: true\n", i)
	}
	file := writeFile(t, t.TempDir(), "compose.yaml", compose.String())
	h.mustRun("deploy", "-f", file, "--env", "prod", "--wait", "--timeout", "2m")
	t.Cleanup(func() { h.run("down", "--env", "prod") })

	// The running containers have every value.
	for _, i := range []int{0, 1, 499, 998, 999} {
		code, body, err := h.get("vault.test", fmt.Sprintf("/file?path=/run/secrets/s%04d", i))
		if err != nil || code != 200 || body != canaries[i] {
			t.Fatalf("secret s%04d in the container: %d %q %v", i, code, body, err)
		}
	}

	// API answers other than an explicit get.
	var answers bytes.Buffer
	for _, args := range [][]string{{"status", "-o", "json"}, {"ps", "-o", "json"}, {"secret", "list", "--env", "prod", "-o", "json"},
		{"audit", "-o", "json"}, {"logs", "web", "--env", "prod"}, {"env", "list", "-o", "json"}, {"validate", "-f", file, "-o", "json"}} {
		answers.WriteString(h.mustRun(args...).stdout)
	}
	ds, err := cl.Deployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ds)
	answers.Write(raw)

	// Every file of the data directory (store, audit, logs, process
	// records), and a tarball of it.
	var files bytes.Buffer
	filepath.WalkDir(h.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			files.Write(b)
		}
		return nil
	})
	tarball, err := exec.Command("tar", "-C", h.dataDir, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatalf("tar of the data directory: %v", err)
	}
	for i, c := range canaries {
		for where, hay := range map[string][]byte{"API answers": answers.Bytes(), "data directory": files.Bytes(), "data directory tarball": tarball} {
			if bytes.Contains(hay, []byte(c)) {
				t.Fatalf("canary s%04d found in the %s", i, where)
			}
		}
	}
	if files.Len() < 100_000 {
		t.Fatalf("the data directory holds only %d bytes: the search looked at nothing", files.Len())
	}

	// Tamper with one stored ciphertext: the read fails loudly.
	h.server.Process.Signal(os.Interrupt)
	h.server.Wait()
	h.server = nil
	flipCiphertextByte(t, filepath.Join(h.dataDir, "haven.db"), "prod", "s0007")
	h.startServer()
	r := h.run("secret", "get", "s0007", "--env", "prod")
	if r.code == 0 || !strings.Contains(r.stderr, "failed authentication") || strings.Contains(r.stdout, canaries[7]) {
		t.Fatalf("reading a tampered secret: %s", r)
	}
	if got := h.mustRun("secret", "get", "s0008", "--env", "prod").stdout; got != canaries[8] {
		t.Fatalf("an untouched secret reads %q", got)
	}
}

// flipCiphertextByte flips one bit of the stored ciphertext of a secret's
// latest version, as disk corruption or an attacker would.
func flipCiphertextByte(t *testing.T, path, env, name string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		nb := tx.Bucket([]byte("secrets")).Bucket([]byte(env)).Bucket([]byte(name))
		k, v := nb.Cursor().Last()
		var rec map[string]any
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		ct, ok := rec["ciphertext"].(string)
		if !ok || len(ct) < 4 {
			return fmt.Errorf("no ciphertext field in %s", v)
		}
		b := []byte(ct)
		b[2] ^= 0x01 // still valid base64 in most cases; either way the value no longer authenticates
		if b[2] == '=' || b[2] == '+' || b[2] == '/' {
			b[2] ^= 0x03
		}
		rec["ciphertext"] = string(b)
		out, _ := json.Marshal(rec)
		return nb.Put(k, out)
	})
	if err != nil {
		t.Fatal(err)
	}
}
