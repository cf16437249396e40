package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/spec"
)

func newUpCmd(g *globals) *cobra.Command {
	var (
		f       appFlags
		srv     serverFlags
		detach  bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "up",
		Short: "Deploy a compose app and wait until every service is healthy",
		Long: `Deploy a compose app, starting a local server in the background first if none
is running, then wait until every service is healthy, showing progress.
Exits 0 when the app is ready, 3 when a service crash-loops or the timeout
passes (with the reason and the failing instance's last log lines).`,
		Example: "  haven up -f compose.yaml\n  haven up -f compose.yaml --env staging --detach",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			app, err := f.loadWarning(c)
			if err != nil {
				return err
			}
			cl, err := g.ensureServer(ctx, srv)
			if err != nil {
				return err
			}
			resp, err := cl.Deploy(ctx, f.env, *app)
			if err != nil {
				return err
			}
			printChanges(g, resp.Deployment, resp.Changes)
			if detach {
				return nil
			}
			return g.waitReady(ctx, cl, resp.Deployment, timeout)
		},
	}
	f.addFileFlags(c)
	srv.add(c)
	c.Flags().BoolVarP(&detach, "detach", "d", false, "return once the deploy is accepted, without waiting for health")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for every service to be healthy")
	return c
}

// ensureServer returns a client of a running server, starting one in the
// background when the local socket does not answer. A server started here
// runs in its own session and outlives this command; its output goes to
// server.log in the data directory.
func (g *globals) ensureServer(ctx context.Context, srv serverFlags) (*client.Client, error) {
	cl := g.client()
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := cl.Ping(pingCtx)
	cancel()
	if err == nil || g.addr != "" {
		return cl, err // a server named with --server is never started here
	}
	if err := os.MkdirAll(g.dataDir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(g.dataDir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--data-dir", g.dataDir, "--driver", srv.driver, "--ingress", srv.ingress, "--api-addr", srv.apiAddr, "--metrics-addr", srv.metricsAddr}
	if srv.debug {
		args = append(args, "--debug")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	offset, _ := logFile.Seek(0, 2)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haven server: %w", err)
	}
	fmt.Fprintf(g.errw(), "Started haven server (pid %d, driver %s, ingress %s); log: %s\n", cmd.Process.Pid, srv.driver, srv.ingress, logPath)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("haven server exited at start (%v):\n%s", err, readFrom(logPath, offset))}
		case <-time.After(100 * time.Millisecond):
		}
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err := cl.Ping(pingCtx)
		cancel()
		if err == nil {
			if g.conn.token == "" { // the new server has just written its admin token
				if b, err := os.ReadFile(adminTokenFile(g.dataDir)); err == nil {
					g.conn.token = strings.TrimSpace(string(b))
				}
			}
			return g.client(), nil
		}
	}
	return nil, &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("haven server did not answer within 20s; see %s", logPath)}
}

func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return strings.TrimSpace(string(b[offset:]))
}

func printChanges(g *globals, d spec.Deployment, changes []control.Change) {
	if g.output != "table" {
		return
	}
	fmt.Fprintf(g.errw(), "Deploying %s (generation %d)\n", d.AppEnv, d.Generation)
	for _, ch := range changes {
		fmt.Fprintf(g.errw(), "  %-16s %-9s %s\n", cell(ch.Service), ch.Kind, ch.Revision)
	}
}

// waitReady polls the deployment's status until it is ready, a service
// fails for good, or timeout passes; it prints each service's progress as
// it changes.
func (g *globals) waitReady(ctx context.Context, cl *client.Client, d spec.Deployment, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	last := map[string]string{}
	var st spec.EnvStatus
	for {
		sts, err := cl.Status(ctx, d.AppEnv.App, d.AppEnv.Env)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return notReady(d, st, fmt.Sprintf("not ready after %s", timeout))
			}
			return err
		}
		if len(sts) == 1 && sts[0].Generation >= d.Generation {
			st = sts[0]
			for _, s := range st.Services {
				line := fmt.Sprintf("%s %d/%d %s", s.Condition, s.Healthy, s.Desired, s.Message)
				if last[s.Name] != line {
					last[s.Name] = line
					fmt.Fprintf(g.errw(), "  %5.1fs  %-16s %-13s %d/%d healthy  %s\n", time.Since(start).Seconds(), cell(s.Name), s.Condition, s.Healthy, s.Desired, cell(s.Message))
				}
				if s.Condition == spec.ServiceCrashLooping || s.Condition == spec.ServiceFailed {
					return notReady(d, st, fmt.Sprintf("service %s is %s", s.Name, s.Condition))
				}
			}
			if st.Ready() {
				fmt.Fprintf(g.errw(), "%s is ready in %.1fs\n", d.AppEnv, time.Since(start).Seconds())
				printRoutes(g, st)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return notReady(d, st, fmt.Sprintf("not ready after %s", timeout))
			}
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// notReady explains which services are not ready, and why.
func notReady(d spec.Deployment, st spec.EnvStatus, headline string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", d.AppEnv, headline)
	for _, s := range st.Services {
		if s.Condition == spec.ServiceReady || s.Condition == spec.ServiceCompleted {
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s, %d/%d healthy", s.Name, s.Condition, s.Healthy, s.Desired)
		if s.Message != "" {
			fmt.Fprintf(&b, ": %s", s.Message)
		}
		if len(s.LastLogs) > 0 {
			fmt.Fprintf(&b, "\n    last log lines:")
			for _, l := range s.LastLogs {
				fmt.Fprintf(&b, "\n    | %s", cell(l))
			}
		}
	}
	return &ExitError{Code: ExitNotReady, Err: errors.New(b.String())}
}

func printRoutes(g *globals, st spec.EnvStatus) {
	for _, s := range st.Services {
		for _, r := range s.Routes {
			fmt.Fprintf(g.errw(), "  %-16s %s\n", cell(s.Name), cell(r))
		}
	}
}
