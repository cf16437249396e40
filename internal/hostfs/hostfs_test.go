package hostfs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirSizeAndFullness(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if n := DirSize(dir); n < 1<<20 || n > 2<<20 {
		t.Fatalf("DirSize = %d, want about 1 MiB (a hard link counted once)", n)
	}
	if f := Fullness([]string{dir, "/nonexistent"}); f <= 0 || f > 1 {
		t.Fatalf("Fullness = %v, want in (0, 1]", f)
	}
}

func TestNetDevOfThisProcess(t *testing.T) {
	if _, _, err := NetDev(os.Getpid()); err != nil {
		t.Fatalf("NetDev: %v", err)
	}
}
