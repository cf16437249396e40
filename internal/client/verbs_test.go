package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/agent"
	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/driver/process"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store/bolt"
	"github.com/haven-platform/haven/internal/testbin"
)

// server is a real API (bbolt, the process driver, a running agent, auth,
// audit) with an admin's token.
func server(t *testing.T) (*Client, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "haven.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := secrets.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.Open(st.DB(), kr)
	if err != nil {
		t.Fatal(err)
	}
	au, err := auth.New(st.DB(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trail.Close() })
	drv, err := process.New(filepath.Join(dir, "process"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ag := agent.New(agent.Config{Driver: drv, Store: st, Ingress: proxy.New(proxy.Config{}), Secrets: sec, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ag.Run(ctx) }()
	h := api.NewHandler(api.Deps{Control: &control.Controller{Store: st, Driver: drv, Agent: ag, Secrets: sec}, Auth: au, Secrets: sec, Audit: trail, DataDir: dir, Logger: logger})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		insts, _ := drv.List(context.Background()) // stop what the agent started
		for _, i := range insts {
			_ = drv.Stop(context.Background(), i.ID, time.Second)
		}
	})
	if err := au.AddUser("root", "correct horse battery staple", []auth.Binding{{Role: auth.RoleAdmin, Env: "*"}}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := au.Login(t.Context(), "root", "correct horse battery staple", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return New(srv.URL, tok, nil), dir
}

// runningInstance deploys shop/env (one testapp replica) and returns its
// instance id once it runs.
func runningInstance(t *testing.T, c *Client, env string) string {
	t.Helper()
	app := spec.App{Name: "shop", Services: []spec.Service{{Name: "web", Command: []string{testbin.TestApp(t)}, Replicas: 1, Expose: []int{8080},
		Restart: spec.RestartAlways, Env: map[string]string{"WHERE": env}}}}
	if _, err := c.Deploy(t.Context(), env, app); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		sts, err := c.Status(t.Context(), "shop", env)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			for _, s := range st.Services {
				for _, i := range s.Instances {
					if i.State.Live() {
						return i.ID
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no instance of shop/%s runs", env)
	return ""
}

// TestExecProtocol drives the exec protocol end to end over real HTTP:
// output on its streams, the exit status, stdin and its end, a terminal
// and its resize; an instance of another environment is not reachable
// through this one's path, and a call without the upgrade is refused
// plainly.
func TestExecProtocol(t *testing.T) {
	c, _ := server(t)
	prod := spec.AppEnv{App: "shop", Env: "prod"}
	id := runningInstance(t, c, "prod")
	staging := runningInstance(t, c, "staging")
	exec := func(opts ExecOptions) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		opts.Stdout, opts.Stderr = &out, &errb
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		code, err := c.Exec(ctx, prod, "web", id, opts)
		if err != nil {
			t.Fatalf("Exec %v: %v", opts.Cmd, err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, errOut := exec(ExecOptions{Cmd: []string{"sh", "-c", `echo "$WHERE"; echo e >&2; exit 5`}}); code != 5 || out != "prod\n" || errOut != "e\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	big := strings.Repeat("x", 3*api.MaxExecFrame+17) + "\n" // several frames each way
	if code, out, _ := exec(ExecOptions{Cmd: []string{"cat"}, Stdin: strings.NewReader(big)}); code != 0 || out != big {
		t.Errorf("cat of %d bytes: exit %d, %d bytes back", len(big), code, len(out))
	}
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{120, 40}
	pr, pw := io.Pipe()
	go func() {
		time.Sleep(200 * time.Millisecond) // after the resize frame
		io.WriteString(pw, "go\n")
	}()
	if code, out, _ := exec(ExecOptions{Cmd: []string{"sh", "-c", "read x; test -t 1 && stty size"}, TTY: true, Width: 80, Height: 24, Resize: resize, Stdin: pr}); code != 0 || !strings.Contains(out, "40 120") {
		t.Errorf("with a terminal resized to 120×40: exit %d, %q", code, out)
	}
	pw.Close()

	_, err := c.Exec(t.Context(), prod, "web", staging, ExecOptions{Cmd: []string{"true"}})
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusNotFound || !strings.Contains(ce.Message, "no running instance") {
		t.Errorf("exec in staging's instance through prod's path: %v", err)
	}
	_, err = c.Exec(t.Context(), prod, "web", id, ExecOptions{})
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		t.Errorf("exec without a command: %v", err)
	}
	resp, err := c.send(t.Context(), http.MethodPost, "/v1/deployments/shop/prod/services/web/instances/"+id+"/exec", api.ExecRequest{Cmd: []string{"true"}})
	if err == nil {
		resp.Body.Close()
	}
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(ce.Message, "Upgrade: "+api.ExecUpgrade) {
		t.Errorf("exec without the upgrade: %v", err)
	}
}
