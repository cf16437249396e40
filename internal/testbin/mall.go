package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// MallPostgresImage is the demo mall's PostgreSQL image, built from Debian
// packages by examples/mall (no registry has it).
const MallPostgresImage = "haven-mall/postgres:15"

// MallPostgres makes sure MallPostgresImage exists, building the mall's
// Debian base image and the PostgreSQL image when missing (cached after the
// first build; concurrent callers build into separate work directories).
func MallPostgres(t testing.TB) string {
	t.Helper()
	if exec.Command("docker", "image", "inspect", MallPostgresImage).Run() == nil {
		return MallPostgresImage
	}
	_, file, _, _ := runtime.Caller(0)
	mall := filepath.Join(filepath.Dir(file), "..", "..", "examples", "mall")
	for _, args := range [][]string{
		{filepath.Join(mall, "images", "build-base.sh")},
		{"docker", "build", "-q", "-t", MallPostgresImage, filepath.Join(mall, "images", "postgres")},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %s: %v\n%s", MallPostgresImage, strings.Join(args, " "), err, out)
		}
	}
	return MallPostgresImage
}

// StartMallPostgres runs a throwaway PostgreSQL (user mall, database mall)
// from MallPostgresImage on a loopback port, waits until it accepts
// connections, and returns its URL. The container is removed at cleanup.
func StartMallPostgres(t testing.TB) string {
	t.Helper()
	image := MallPostgres(t)
	out, err := exec.Command("docker", "run", "-d", "--rm", "-e", "POSTGRES_USER=mall", "-e", "POSTGRES_DB=mall",
		"-e", "POSTGRES_PASSWORD=test", "-p", "127.0.0.1::5432", image).Output()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	port, err := exec.Command("docker", "port", id, "5432/tcp").Output()
	if err != nil {
		t.Fatalf("port of PostgreSQL: %v", err)
	}
	hostPort := strings.TrimSpace(strings.Split(string(port), "\n")[0])
	deadline := time.Now().Add(60 * time.Second)
	for exec.Command("docker", "exec", id, "pg_isready", "-U", "mall", "-h", "127.0.0.1").Run() != nil {
		if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Fatalf("PostgreSQL not ready after 60s:\n%s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://mall:test@%s/mall?sslmode=disable", hostPort)
}
