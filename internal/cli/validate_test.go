package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidatePrintsWarnings: a key Haven accepts but that changes nothing
// is printed as a warning on stderr, with its place, and the app still
// validates (exit 0, the app on stdout).
func TestValidatePrintsWarnings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	body := "name: warn\nservices:\n  api:\n    image: x\n    pull_policy: always\n    develop:\n      watch: []\n"
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HAVEN_DATA_DIR", dir)
	var stdout, stderr bytes.Buffer
	root := NewRoot(Deps{Stdout: &stdout, Stderr: &stderr})
	root.SetArgs([]string{"validate", "-f", file})
	if err := root.Execute(); err != nil {
		t.Fatalf("validate: %v (stderr %s)", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "warning: "+file+":5:5: service api: key `pull_policy` changes nothing") ||
		!strings.HasPrefix(lines[1], "warning: "+file+":6:5: service api: key `develop` changes nothing") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "name: warn") {
		t.Errorf("stdout lacks the app:\n%s", stdout.String())
	}
}
