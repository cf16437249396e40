package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

// haven is one Haven installation under test: a binary, a data directory,
// an ingress address and a driver.
type haven struct {
	t       *testing.T
	bin     string
	dataDir string
	ingress string
	apiAddr string // the API's TLS address
	// metricsAddr serves /metrics.
	metricsAddr string
	driver      string
	server      *exec.Cmd
}

func newHaven(t *testing.T, driverName string) *haven {
	t.Helper()
	h := &haven{
		t:           t,
		bin:         testbin.Build(t, "github.com/haven-platform/haven/cmd/haven"),
		dataDir:     shortTempDir(t),
		ingress:     freeAddr(t),
		apiAddr:     freeAddr(t),
		metricsAddr: freeAddr(t),
		driver:      driverName,
	}
	t.Cleanup(func() {
		if h.server != nil && h.server.Process != nil {
			h.server.Process.Signal(syscall.SIGTERM)
			h.server.Wait()
		}
	})
	return h
}

// shortTempDir returns a temporary directory with a short path: unix
// socket paths are limited to 108 bytes, and t.TempDir's can exceed that.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "hv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// result is what one CLI run produced.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs the haven CLI against this installation and waits for it.
func (h *haven) run(args ...string) result {
	h.t.Helper()
	return h.runEnv(nil, args...)
}

// runEnv is run with extra environment variables.
func (h *haven) runEnv(env []string, args ...string) result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, append([]string{"--data-dir", h.dataDir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatalf("haven %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRun runs the CLI and fails the test unless it exits 0.
func (h *haven) mustRun(args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	if r.code != 0 {
		h.t.Fatalf("haven %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// startServer runs `haven server` as a child of the test and waits until
// its API answers.
func (h *haven) startServer() {
	h.t.Helper()
	h.startServerArgs()
}

// startServerArgs is startServer with extra server flags.
func (h *haven) startServerArgs(extra ...string) {
	h.t.Helper()
	args := append([]string{"server", "--data-dir", h.dataDir, "--driver", h.driver, "--ingress", h.ingress, "--api-addr", h.apiAddr, "--metrics-addr", h.metricsAddr}, extra...)
	cmd := exec.Command(h.bin, args...)
	logFile, err := os.OpenFile(filepath.Join(h.dataDir, "test-server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.server = cmd
	go func() { cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r := h.run("version", "-o", "json"); r.code == 0 && strings.Contains(r.stdout, `"server"`) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("server did not answer; log:\n%s", h.serverLog())
}

// killServer kills the server with SIGKILL, as a crash would.
func (h *haven) killServer() {
	h.t.Helper()
	if err := h.server.Process.Kill(); err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i < 100 && h.server.ProcessState == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	h.server = nil
}

func (h *haven) serverLog() string {
	b, _ := os.ReadFile(filepath.Join(h.dataDir, "test-server.log"))
	return string(b)
}

// status returns the deployed apps' statuses.
func (h *haven) status() []spec.EnvStatus {
	h.t.Helper()
	r := h.mustRun("status", "-o", "json")
	var out []spec.EnvStatus
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		h.t.Fatalf("status json: %v\n%s", err, r.stdout)
	}
	return out
}

// service returns one service's status.
func (h *haven) service(name string) spec.ServiceStatus {
	h.t.Helper()
	for _, st := range h.status() {
		for _, s := range st.Services {
			if s.Name == name {
				return s
			}
		}
	}
	h.t.Fatalf("service %s not in status", name)
	return spec.ServiceStatus{}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
	return 0
}

// get sends one request through the ingress.
func (h *haven) get(host, path string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.ingress+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// load sends requests through the ingress from several workers until stop
// is closed or the bound is reached, and counts failures (errors and
// non-2xx answers).
type load struct {
	sent, failed atomic.Int64
	done         chan struct{}
	firstErr     atomic.Value
}

func (h *haven) startLoad(host, path string, workers int, stop <-chan struct{}) *load {
	l := &load{done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	const maxRequests = 200000 // bound: the loop ends by itself even if stop never closes
	finished := make(chan struct{}, workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer func() { finished <- struct{}{} }()
			for l.sent.Load() < maxRequests {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, "http://"+h.ingress+path, nil)
				req.Host = host
				l.sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, resp.Status)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	go func() {
		for w := 0; w < workers; w++ {
			<-finished
		}
		close(l.done)
	}()
	return l
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func itoa(n int) string { return strconv.Itoa(n) }
