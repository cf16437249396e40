package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/audit"
)

// TestAuditTrailNeedsTheKey: with write access to the data directory but
// not the audit key (sealed under the master key), an attacker can no
// longer recompute the chain. Rewriting the whole chain and its head with
// plain SHA-256 makes the server refuse the trail at start, naming it;
// forging one record in place is named by `haven audit verify`.
func TestAuditTrailNeedsTheKey(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "key", 1, nil)
	h.mustRun("deploy", "-f", file)
	h.mustRun("scale", "web=2")
	t.Cleanup(func() { h.run("down") })
	h.mustRun("audit", "verify")
	h.stopServer(t)

	path := filepath.Join(h.dataDir, "audit.log")
	orig := auditLines(t, path)
	origHead, err := os.ReadFile(path + ".head")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(orig[0], `"scheme":"hmac-sha256"`) {
		t.Fatalf("record 1 is not keyed: %s", orig[0])
	}

	// The whole chain and the head, recomputed without the key.
	forged, headSeq, headHash := rehash(t, orig, 1)
	writeLines(t, path, forged)
	writeFile(t, h.dataDir, "audit.log.head", `{"seq":`+itoa(headSeq)+`,"hash":"`+headHash+`"}`+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a server that starts would run on
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, "--data-dir", h.dataDir, "server", "--driver", "process", "--ingress", h.ingress, "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "audit chain broken") || !strings.Contains(string(out), "without the audit key") {
		t.Fatalf("server on a trail rewritten without the key (err %v, timed out %v):\n%s", err, ctx.Err() != nil, out)
	}

	// The whole chain rewritten in the format from before keyed trails
	// (no scheme, a head without a MAC), which an old trail legitimately
	// has: the store remembers that this trail was keyed, so it is refused.
	forged, headSeq, headHash = rehash(t, unkeyed(t, orig), 1)
	writeLines(t, path, forged)
	writeFile(t, h.dataDir, "audit.log.head", `{"seq":`+itoa(headSeq)+`,"hash":"`+headHash+`"}`+"\n")
	out, err = exec.CommandContext(ctx, h.bin, "--data-dir", h.dataDir, "server", "--driver", "process", "--ingress", h.ingress, "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "was keyed before") {
		t.Fatalf("server on a trail replaced by unkeyed records (err %v, timed out %v):\n%s", err, ctx.Err() != nil, out)
	}

	// One record forged in place, the rest left alone.
	forged, _, _ = rehash(t, orig, 2)
	writeLines(t, path, append(append([]string{orig[0]}, forged[1]), orig[2:]...))
	if err := os.WriteFile(path+".head", origHead, 0o600); err != nil {
		t.Fatal(err)
	}
	h.startServer()
	r := h.run("audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "record 2") || !strings.Contains(r.stderr, "MAC mismatch") {
		t.Fatalf("verify after forging record 2: %s", r)
	}
}

// unkeyed strips the scheme from every record, as records written before
// keyed trails have none.
func unkeyed(t *testing.T, lines []string) []string {
	t.Helper()
	out := make([]string, len(lines))
	for i, line := range lines {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		r.Scheme = ""
		b, _ := json.Marshal(r)
		out[i] = string(b)
	}
	return out
}

// rehash returns lines with every record from seq from on given actor
// mallory and re-chained with audit.ComputeHash, the canonical plain
// SHA-256 — all an attacker without the key can compute — and the last
// seq and hash.
func rehash(t *testing.T, lines []string, from int) (out []string, seq int, hash string) {
	t.Helper()
	prev := ""
	for i, line := range lines {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if i+1 >= from {
			r.Actor, r.Prev = "mallory", prev
			r.Hash = audit.ComputeHash(r)
			b, _ := json.Marshal(r)
			line = string(b)
		}
		out = append(out, line)
		prev, seq = r.Hash, int(r.Seq)
	}
	return out, seq, prev
}
