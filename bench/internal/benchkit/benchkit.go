package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs commands in a directory (the repository).
type Runner struct{ Dir string }

// Cmd runs name with args, bounded by timeout, and returns its combined
// output.
func (r Runner) Cmd(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return r.CmdCtx(ctx, name, args...)
}

// CmdCtx runs name with args until ctx ends and returns its combined
// output; an error caused by ctx says so.
func (r Runner) CmdCtx(ctx context.Context, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = r.Dir
	c.WaitDelay = 5 * time.Second
	out, err := c.CombinedOutput()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%s %s: %w (%v)", name, strings.Join(args, " "), ctx.Err(), err)
	}
	return string(out), err
}

// DockerLines runs docker and returns the non-empty lines of its output.
func (r Runner) DockerLines(ctx context.Context, args ...string) ([]string, error) {
	out, err := r.Cmd(ctx, time.Minute, "docker", args...)
	if err != nil {
		return nil, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	var lines []string
	for l := range strings.SplitSeq(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// RepoRoot finds the directory of Haven's go.mod from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/haven-platform/haven\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run this inside the Haven repository (no go.mod of github.com/haven-platform/haven above the working directory)")
		}
		dir = parent
	}
}

// FreeAddr returns a loopback host:port nothing listens on right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Sleep waits d, or less if ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FirstLine returns the first line of err's message.
func FirstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Indent indents s by four spaces for a report ("(nothing)" when empty).
func Indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
