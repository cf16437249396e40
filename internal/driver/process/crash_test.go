package process

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// crashServerEnv names the directory a re-executed test binary runs
// crashServer over.
const crashServerEnv = "HAVEN_TEST_CRASH_SERVER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashServerEnv); dir != "" {
		if os.Getenv("HAVEN_TEST_CRASH_MODE") == "check" {
			checkServer(dir, os.Getenv("HAVEN_TEST_CRASH_MARKER"))
		}
		crashServer(dir, os.Getenv("HAVEN_TEST_CRASH_MARKER"))
		return
	}
	os.Exit(m.Run())
}

// crashServer is the "server" TestKill9DuringStart kills: it opens a Driver
// over dir and starts instances back to back, announcing each Start on
// stdout, until it is killed.
func crashServer(dir, marker string) {
	d, err := New(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("c%d-%d", os.Getpid(), i)
		fmt.Println("starting", id)
		_, err := d.Start(context.Background(), driver.StartRequest{
			Labels: spec.InstanceLabels{App: "crash", Env: "test", Service: "sleeper", Instance: id},
			Service: spec.Service{Name: "sleeper", Command: []string{"sleep", "300"},
				Env: map[string]string{"HAVEN_TEST_CRASH_MARKER": marker}},
		})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
}

// checkServer starts one instance whose exec health check hangs, says so,
// and waits to be killed.
func checkServer(dir, marker string) {
	d, err := New(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	_, err = d.Start(context.Background(), driver.StartRequest{
		Labels: spec.InstanceLabels{App: "crash", Env: "test", Service: "checked", Instance: "checked"},
		Service: spec.Service{Name: "checked", Command: []string{"sleep", "300"},
			Env: map[string]string{"HAVEN_TEST_CRASH_MARKER": marker},
			Health: &spec.HealthCheck{Kind: spec.CheckExec, Command: []string{"sleep", "301"},
				Interval: spec.Duration(50 * time.Millisecond), Timeout: spec.Duration(time.Minute), Retries: 3}},
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("started")
	select {}
}

// markedPIDs lists the live processes whose environment carries marker.
func markedPIDs(marker string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or a zombie
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if kv == "HAVEN_TEST_CRASH_MARKER="+marker {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// TestKill9DuringStart: a server killed with SIGKILL anywhere in a Start
// leaves no process that recovery cannot find. Each round re-executes the
// test binary as a server starting instances back to back, kills it a
// random 0–15ms after its first Start began, opens a fresh Driver over the
// directory (the recovery), stops everything listed (scale 0) and counts
// the processes carrying this run's marker: none may be left.
func TestKill9DuringStart(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary 50 times")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	marker := randomHex(8)
	t.Cleanup(func() {
		for _, pid := range markedPIDs(marker) {
			syscall.Kill(pid, syscall.SIGKILL) // leave nothing behind, even on failure
		}
	})
	dir := openDir(t)
	const rounds = 50
	deadline := time.Now().Add(90 * time.Second)
	var killedIn, started, abandoned, abandonedAlive int
	for round := range rounds {
		if time.Now().After(deadline) {
			t.Fatalf("only %d rounds within 90s", round)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashServerEnv+"="+dir, "HAVEN_TEST_CRASH_MARKER="+marker)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "starting ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the server said %q, want a starting line", round, lines.Text())
		}
		time.Sleep(time.Duration(rand.Int64N(int64(15 * time.Millisecond))))
		cmd.Process.Signal(syscall.SIGKILL)
		n := 1
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "starting ") {
				n++
			}
		}
		cmd.Wait()
		started += n - 1
		if n == 1 {
			killedIn++ // killed inside its first Start
		}

		// What the kill left, for the sweep's figures.
		if entries, _ := os.ReadDir(filepath.Join(dir, "instances")); len(entries) > 0 {
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), newPrefix) {
					continue
				}
				abandoned++
				if rec, err := readRecord(filepath.Join(dir, "instances", e.Name())); err == nil && alive(rec) {
					abandonedAlive++
				}
			}
		}

		d, err := New(dir) // the recovery
		if err != nil {
			t.Fatal(err)
		}
		list, err := d.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, inst := range list {
			if err := d.Stop(t.Context(), inst.ID, 0); err != nil {
				t.Fatalf("round %d: Stop %s: %v", round, inst.ID, err)
			}
		}
		// A shim that was never launched exits by itself once it sees the
		// dead server's pipe closed, and a child caught between fork and
		// exec still holds the dead Start's lock until its exec: the
		// Driver's next scans (every 250ms) recover that directory.
		var left []int
		var dirs []string
		for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
			left, dirs = markedPIDs(marker), nil
			entries, _ := os.ReadDir(filepath.Join(dir, "instances"))
			for _, e := range entries {
				dirs = append(dirs, e.Name())
			}
			if len(left) == 0 && len(dirs) == 0 {
				break
			}
		}
		d.Close()
		if len(left) > 0 {
			var desc []string
			for _, pid := range left {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				desc = append(desc, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " ")))
			}
			t.Fatalf("round %d: %d orphaned processes after recovery and scale 0: %s", round, len(left), strings.Join(desc, ", "))
		}
		if len(dirs) > 0 {
			t.Fatalf("round %d: recovery left %v in the instances directory", round, dirs)
		}
	}
	t.Logf("%d rounds: %d killed inside their first Start, %d Starts completed before a kill; %d Starts abandoned, %d of them with a live recorded process for recovery to kill",
		rounds, killedIn, started, abandoned, abandonedAlive)
}

// TestKill9DuringHealthCheck: an exec health check under way when its
// server is killed dies with it; it has no record, so nothing else would
// ever stop it. The instance itself is adopted, and stopped.
func TestKill9DuringHealthCheck(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	marker := randomHex(8)
	t.Cleanup(func() {
		for _, pid := range markedPIDs(marker) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	dir := openDir(t)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashServerEnv+"="+dir, "HAVEN_TEST_CRASH_MODE=check", "HAVEN_TEST_CRASH_MARKER="+marker)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "started" {
		t.Fatalf("the server said %q, want started", lines.Text())
	}
	checks := func() []int {
		var out []int
		for _, pid := range markedPIDs(marker) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sleep\x00301\x00" {
				out = append(out, pid)
			}
		}
		return out
	}
	waitFor(t, 10*time.Second, "the health check to run", func() bool { return len(checks()) > 0 })
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	d := newDriver(t, dir) // adopts the instance, and checks it in turn
	waitFor(t, 10*time.Second, "the new Driver's health check to run", func() bool { return len(checks()) > 0 })
	begin := time.Now()
	if err := d.Stop(t.Context(), "checked", 0); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// The check's timeout is a minute: ending supervision must end it.
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("Stop and Close took %s: a health check under way held the supervisor", took)
	}
	var left []int
	for wait := time.Now().Add(5 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		if left = markedPIDs(marker); len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Fatalf("%d processes outlived their server and the Stop of their instance: %v (health checks: %v)", len(left), left, checks())
	}
}
