package process

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

// TestExec runs commands in a running instance: with its environment and
// working directory, its output on the right streams, its exit status
// passed back (a program that is missing is 127, as in a shell), stdin
// delivered, and a terminal when asked for one.
func TestExec(t *testing.T) {
	bin := testbin.TestApp(t)
	d := newDriver(t, openDir(t))
	work := t.TempDir()
	svc := testService(bin, "web", map[string]string{"GREETING": "hello from the instance"})
	svc.WorkingDir = work
	inst := start(t, d, svc, spec.App{})
	run := func(req driver.ExecRequest) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		req.Stdout, req.Stderr = &out, &errb
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code, err := d.Exec(ctx, inst.ID, req)
		if err != nil {
			t.Fatalf("Exec %v: %v", req.Cmd, err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, _ := run(driver.ExecRequest{Cmd: []string{"sh", "-c", `echo "$GREETING"; pwd; echo oops >&2; exit 3`}}); code != 3 || !strings.Contains(out, "hello from the instance\n"+work+"\n") {
		t.Errorf("sh -c …: exit %d, stdout %q", code, out)
	}
	if _, _, errOut := run(driver.ExecRequest{Cmd: []string{"sh", "-c", "echo oops >&2"}}); errOut != "oops\n" {
		t.Errorf("stderr %q, want oops", errOut)
	}
	if code, _, errOut := run(driver.ExecRequest{Cmd: []string{"no-such-program-here"}}); code != 127 || !strings.Contains(errOut, "not found") {
		t.Errorf("a missing program: exit %d, stderr %q; want 127 and a reason", code, errOut)
	}
	if code, out, _ := run(driver.ExecRequest{Cmd: []string{"cat"}, Stdin: strings.NewReader("piped input\n")}); code != 0 || out != "piped input\n" {
		t.Errorf("cat with stdin: exit %d, %q", code, out)
	}
	if code, out, _ := run(driver.ExecRequest{Cmd: []string{"sh", "-c", "test -t 0 && test -t 1 && stty size"}, TTY: true, Size: driver.TermSize{Width: 100, Height: 30}}); code != 0 || !strings.Contains(out, "30 100") {
		t.Errorf("with a terminal: exit %d, %q; want a terminal of 30 rows × 100 columns", code, out)
	}
	if code, _, _ := run(driver.ExecRequest{Cmd: []string{"sh", "-c", "test -t 0"}}); code == 0 {
		t.Errorf("without TTY the command has a terminal on stdin")
	}
}

// TestExecEndsWithTheCaller: a command whose caller goes away is killed,
// not left running.
func TestExecEndsWithTheCaller(t *testing.T) {
	bin := testbin.TestApp(t)
	d := newDriver(t, openDir(t))
	inst := start(t, d, testService(bin, "web", nil), spec.App{})
	dir := openDir(t)
	if err := os.Chmod(dir, 0o777); err != nil { // the instance's user writes there
		t.Fatal(err)
	}
	marker := dir + "/pid"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := d.Exec(ctx, inst.ID, driver.ExecRequest{Cmd: []string{"sh", "-c", "echo $$ > " + marker + "; exec sleep 60"}})
		done <- err
	}()
	waitFor(t, 10*time.Second, "the command to start", func() bool { b, _ := os.ReadFile(marker); return len(b) > 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Exec after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after its context ended")
	}
	b, _ := os.ReadFile(marker)
	pid := strings.TrimSpace(string(b))
	waitFor(t, 5*time.Second, "the command to be gone", func() bool {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		return err != nil || strings.Contains(string(st), ") Z ")
	})
}

// TestExecEndsWithTheInstance: a command still running when its instance
// stops is killed, as in a container, and reports SIGKILL's 137.
func TestExecEndsWithTheInstance(t *testing.T) {
	bin := testbin.TestApp(t)
	d := newDriver(t, openDir(t))
	inst := start(t, d, testService(bin, "web", nil), spec.App{})
	type result struct {
		code int
		err  error
	}
	dir := openDir(t)
	if err := os.Chmod(dir, 0o777); err != nil { // the instance's user writes there
		t.Fatal(err)
	}
	marker := dir + "/started"
	done := make(chan result, 1)
	go func() {
		code, err := d.Exec(context.Background(), inst.ID, driver.ExecRequest{Cmd: []string{"sh", "-c", "touch " + marker + "; exec sleep 60"}})
		done <- result{code, err}
	}()
	waitFor(t, 10*time.Second, "the command to start", func() bool { _, err := os.Stat(marker); return err == nil })
	if err := d.Stop(context.Background(), inst.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.code != 137 {
			t.Fatalf("Exec of a command outliving its instance: %d, %v; want 137", r.code, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the command outlived its instance")
	}
}

// TestExecNotRunning: an instance that is gone is driver.ErrNotFound.
func TestExecNotRunning(t *testing.T) {
	bin := testbin.TestApp(t)
	d := newDriver(t, openDir(t))
	inst := start(t, d, testService(bin, "web", nil), spec.App{})
	if err := d.Stop(context.Background(), inst.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(context.Background(), inst.ID, driver.ExecRequest{Cmd: []string{"true"}}); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Exec in a stopped instance: %v, want ErrNotFound", err)
	}
}
