// Package svc holds the plumbing shared by the mall demo's programs: logging,
// signal handling, an HTTP server with timeouts and graceful shutdown, and the
// -healthcheck probe that lets compose check binaries in scratch images,
// which have no shell and no curl.
//
// It imports only the standard library.
package svc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ShutdownGrace bounds how long in-flight requests may run after SIGTERM.
// It stays below Docker's default 10s stop timeout.
const ShutdownGrace = 8 * time.Second

// Logger returns a JSON logger on stdout tagged with the program's name.
func Logger(name string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", name)
}

// SignalContext returns a context cancelled on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// NewServer returns a server on :port with timeouts that keep slow clients
// from holding connections forever.
func NewServer(port string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              net.JoinHostPort("", port),
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

// Serve runs srv until ctx is cancelled, then stops accepting connections
// and waits up to ShutdownGrace for in-flight requests.
func Serve(ctx context.Context, srv *http.Server, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", srv.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Probe asks the program's own /healthz on 127.0.0.1:port and returns nil
// only for a 200 answer.
func Probe(port string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

// HealthcheckMain runs Probe and exits the process: 0 when healthy, 1 when
// not. Programs call it for their -healthcheck flag.
func HealthcheckMain(port string) {
	if err := Probe(port); err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
