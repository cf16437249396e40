package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateWarnsAboutLogging: `logging:` is accepted, and validate says
// on stderr that Haven keeps the logs itself, so it is not dropped silently.
func TestValidateWarnsAboutLogging(t *testing.T) {
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte("name: shop\nservices:\n  web:\n    image: x\n    logging:\n      driver: syslog\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	code := Main(context.Background(), Deps{Stdout: &out, Stderr: &errw}, []string{"validate", "-f", file, "--data-dir", t.TempDir()})
	if code != ExitOK {
		t.Fatalf("validate exited %d: %s", code, errw.String())
	}
	want := "warning: " + file + ":5:5: service web: logging driver \"syslog\" is not used: Haven keeps every instance's output itself"
	if !strings.Contains(errw.String(), want) {
		t.Errorf("stderr %q does not hold %q", errw.String(), want)
	}
}
