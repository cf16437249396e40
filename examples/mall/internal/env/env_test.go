package env

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDatabaseURL(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cr:t@/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, file, want string
	}{
		{"default", "", "", DefaultDatabaseURL},
		{"url only", "postgres://a:b@h/db", "", "postgres://a:b@h/db"},
		{"file fills password", "postgres://mall@pg:5432/mall?sslmode=disable", pw,
			"postgres://mall:s3cr%3At%40%2F@pg:5432/mall?sslmode=disable"},
		{"file overrides password", "postgres://mall:old@pg/mall", pw, "postgres://mall:s3cr%3At%40%2F@pg/mall"},
		{"no user", "postgres://pg/mall", pw, "postgres://postgres:s3cr%3At%40%2F@pg/mall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DATABASE_URL", tt.url)
			t.Setenv("DATABASE_PASSWORD_FILE", tt.file)
			got, err := DatabaseURL()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDatabaseURLMissingFile(t *testing.T) {
	t.Setenv("DATABASE_PASSWORD_FILE", filepath.Join(t.TempDir(), "missing"))
	if _, err := DatabaseURL(); err == nil {
		t.Fatal("want an error for a missing password file")
	}
}

func TestDuration(t *testing.T) {
	t.Setenv("X_INTERVAL", "")
	if d, err := Duration("X_INTERVAL", 5*time.Second); err != nil || d != 5*time.Second {
		t.Fatalf("default: %v %v", d, err)
	}
	t.Setenv("X_INTERVAL", "250ms")
	if d, err := Duration("X_INTERVAL", time.Second); err != nil || d != 250*time.Millisecond {
		t.Fatalf("set: %v %v", d, err)
	}
	for _, bad := range []string{"5", "-1s", "soon"} {
		t.Setenv("X_INTERVAL", bad)
		if _, err := Duration("X_INTERVAL", time.Second); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
