package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/haven-platform/haven/internal/agent"
	"github.com/haven-platform/haven/internal/alerts"
	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/atomicfile"
	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/cli"
	"github.com/haven-platform/haven/internal/collect"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/driver/docker"
	"github.com/haven-platform/haven/internal/driver/process"
	"github.com/haven-platform/haven/internal/logs"
	"github.com/haven-platform/haven/internal/metrics"
	"github.com/haven-platform/haven/internal/pki"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/store/bolt"
)

// runServer runs store, driver, agent, ingress and API until ctx ends.
// Instances are left running on exit: the next server adopts them.
func runServer(ctx context.Context, cfg cli.ServerConfig) error {
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil { // one made earlier with a laxer mode
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, "haven.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	keyring, err := secrets.LoadKeyring(cfg.DataDir)
	if err != nil {
		return err
	}
	secretStore, err := secrets.Open(st.DB(), keyring) // refuses a wrong master key before touching data
	if err != nil {
		return err
	}
	// TOTP secrets are sealed under a key of Haven's own, itself sealed
	// under the master key (so a copied haven.db alone yields no secret,
	// and a key rotation re-wraps it); auth.New seals any secret an older
	// version stored in the clear.
	totpKey, err := secretStore.SystemKey(ctx, "totp-seal")
	if err != nil {
		return fmt.Errorf("TOTP sealing key: %w", err)
	}
	totpSealer, err := secrets.NewKeySealer(totpKey, "auth.totp-secret")
	if err != nil {
		return err
	}
	authSvc, err := auth.New(st.DB(), time.Now, auth.WithSealer(totpSealer))
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(authSvc, cfg.DataDir, logger); err != nil {
		return err
	}
	auditPath := filepath.Join(cfg.DataDir, "audit.log")
	// The trail's records are MAC'd under Haven's own key, sealed under the
	// master key: rewriting the chain needs the master key.
	sinks, err := auditSinks(cfg)
	if err != nil {
		return err
	}
	auditKey, err := secretStore.SystemKey(ctx, "audit-mac")
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	// Once a start has keyed the trail, the store says so, so that a trail
	// later replaced wholesale by unkeyed records is not taken for one from
	// before keys existed. The mark is set only after the keyed Open, so a
	// crash between creating the key and keying the trail recovers.
	auditKeyed, err := secretStore.SystemMarked(ctx, "audit-keyed")
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	auditLog, err := audit.OpenWith(auditPath, audit.Options{Key: auditKey, Keyed: auditKeyed, Sinks: sinks, Logger: logger})
	if err != nil {
		return err
	}
	defer auditLog.Close()
	if err := secretStore.MarkSystem(ctx, "audit-keyed"); err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	// Refused requests are counted, not recorded one by one; the deferred
	// Close (run before the log's) writes the last minute's counts.
	denials := audit.NewAggregator(auditLog, audit.AggregatorOptions{Logger: logger})
	defer denials.Close()

	serverID, err := loadServerID(cfg.DataDir)
	if err != nil {
		return err
	}
	raw, err := openDriver(ctx, cfg)
	if err != nil {
		return err
	}
	drv := driver.Owned(raw, serverID)

	ingressLn, err := net.Listen("tcp", cfg.Ingress)
	if err != nil {
		return fmt.Errorf("ingress: cannot listen on %s: %v: %w; free the port or pass --ingress ADDR", cfg.Ingress, err, driver.ErrPortInUse)
	}
	apiLn, err := listenSocket(cfg.Socket)
	if err != nil {
		ingressLn.Close()
		return err
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return fmt.Errorf("metrics: cannot listen on %s: %v: %w; free the port or pass --metrics-addr ADDR (or \"\")", cfg.MetricsAddr, err, driver.ErrPortInUse)
		}
	}
	var tlsLn net.Listener
	if cfg.APIAddr != "" {
		tlsConf, paths, err := pki.EnsureServerTLS(filepath.Join(cfg.DataDir, "tls"), nil, cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("API TLS: %w", err)
		}
		ln, err := net.Listen("tcp", cfg.APIAddr)
		if err != nil {
			return fmt.Errorf("API: cannot listen on %s: %v: %w; free the port or pass --api-addr ADDR (or \"\" for the socket only)", cfg.APIAddr, err, driver.ErrPortInUse)
		}
		tlsLn = tls.NewListener(ln, tlsConf)
		logger.Info("API over TLS", "addr", ln.Addr().String(), "ca", paths.CA)
	}

	logStore, err := logs.Open(logs.Options{Dir: filepath.Join(cfg.DataDir, "logs")})
	if err != nil {
		return err
	}
	defer logStore.Close() // after the agent stopped: its last lines are synced
	metricStore, err := metrics.Open(metrics.Options{Dir: filepath.Join(cfg.DataDir, "metrics"), Logger: logger})
	if err != nil {
		return err
	}
	defer metricStore.Close()
	rules, err := alertRules(cfg.AlertRulesFile)
	if err != nil {
		return err
	}

	accessLog, err := os.OpenFile(filepath.Join(cfg.DataDir, "access.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer accessLog.Close()
	ingress := proxy.New(proxy.Config{AccessLog: accessLog, Logger: logger.With("component", "proxy"),
		MaxBodyBytes: cfg.IngressMaxBodyMiB << 20, BodyReadTimeout: cfg.IngressBodyTimeout, MaxConnsPerClient: cfg.IngressMaxConnsPerClient})
	ag := agent.New(agent.Config{Driver: drv, Store: st, Ingress: ingress, Secrets: secretStore, Logs: logStore, Logger: logger})
	ctl := &control.Controller{Store: st, Driver: drv, Agent: ag, Secrets: secretStore, LogStore: logStore, MetricsStore: metricStore}
	collector := collect.New(collect.Config{
		Driver: raw, Ingress: ingress, Sink: collect.SinkFunc(func(name string, l map[string]string, t time.Time, v float64) error {
			return metricStore.Append(name, metrics.Labels(l), t, v)
		}), DataDir: cfg.DataDir, Logger: logger,
		Instances: func() []collect.Instance { return collectInstances(ag) },
		Backends:  func() []collect.Backend { return collectBackends(ag) },
	})
	dispatcher := alerts.NewDispatcher(notifiers(cfg), alerts.DispatcherOptions{})
	defer dispatcher.Close()
	alertLoop := &control.AlertLoop{Store: st, Metrics: metricStore, Defaults: rules, Notifier: dispatcher, Logger: logger}
	handler := api.NewHandler(api.Deps{
		Control: ctl, Auth: authSvc, Secrets: secretStore, Audit: auditLog, Denials: denials, Alerts: alertLoop, DataDir: cfg.DataDir, Logger: logger,
		Version: api.Version{Version: version, GoVersion: runtime.Version(), Driver: drv.Name(), Ingress: ingressLn.Addr().String()},
	})

	ingressSrv := ingress.Server("")
	apiSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	serve := func(name string, srv *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("%s: %w", name, err)
		}
	}
	wg.Add(3)
	go serve("ingress", ingressSrv, ingressLn)
	go serve("api", apiSrv, apiLn)
	tlsSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	if tlsLn != nil {
		wg.Add(1)
		go serve("api-tls", tlsSrv, tlsLn)
	}
	metricsSrv := &http.Server{Handler: collector.Handler(), ReadHeaderTimeout: 5 * time.Second}
	if metricsLn != nil {
		wg.Add(1)
		go serve("metrics", metricsSrv, metricsLn)
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = collector.Run(ctx) }()
	go func() { defer wg.Done(); alertLoop.Run(ctx) }()
	go func() {
		defer wg.Done()
		_ = ag.Run(ctx)
	}()
	logger.Info("haven server ready", "version", version, "driver", drv.Name(), "ingress", ingressLn.Addr().String(), "api", cfg.Socket, "data_dir", cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	logger.Info("haven server stopping; instances keep running")
	cancel()
	shutdown, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = apiSrv.Shutdown(shutdown)
	_ = tlsSrv.Shutdown(shutdown)
	_ = metricsSrv.Shutdown(shutdown)
	_ = ingressSrv.Shutdown(shutdown)
	wg.Wait()
	os.Remove(cfg.Socket)
	return runErr
}

// auditSinks makes the external copies of the audit trail the flags ask
// for.
func auditSinks(cfg cli.ServerConfig) ([]audit.Sink, error) {
	var sinks []audit.Sink
	for _, u := range cfg.AuditWebhooks {
		s, err := audit.NewWebhookSink(u)
		if err != nil {
			return nil, &cli.ExitError{Code: cli.ExitInvalid, Err: fmt.Errorf("--audit-webhook: %w", err)}
		}
		sinks = append(sinks, s)
	}
	for _, a := range cfg.AuditSyslog {
		s, err := audit.NewSyslogSink(a)
		if err != nil {
			return nil, &cli.ExitError{Code: cli.ExitInvalid, Err: fmt.Errorf("--audit-syslog: %w", err)}
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// bootstrapAdmin creates the first user, admin, on a fresh data directory
// and writes its token where the local CLI finds it (owner-only), so that
// `haven up` needs no login step on the machine that runs the server.
func bootstrapAdmin(a *auth.Service, dataDir string, logger *slog.Logger) error {
	token, created, err := a.EnsureAdmin()
	if err != nil || !created {
		return err
	}
	path := filepath.Join(dataDir, "admin.token")
	if err := atomicfile.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	logger.Info("created user admin; its token is in the data directory for the local CLI", "file", path)
	return nil
}

// loadServerID returns this data directory's server id, creating it on
// first start. Instances are labelled with it, so a server manages only
// what it created even when other servers share the Docker engine.
func loadServerID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 8)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	id := hex.EncodeToString(buf)
	if err := atomicfile.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write server id: %w", err)
	}
	return id, nil
}

func openDriver(ctx context.Context, cfg cli.ServerConfig) (driver.Driver, error) {
	switch cfg.Driver {
	case "docker":
		return docker.New(ctx)
	case "process":
		// As root, instances run as their environments' own users and
		// reach their volumes under <data-dir>/process: they may pass
		// through the data directory, never list it (every file in it is
		// 0600 or public).
		if os.Geteuid() == 0 {
			if err := os.Chmod(cfg.DataDir, 0o711); err != nil {
				return nil, fmt.Errorf("data directory: %w", err)
			}
		}
		return process.New(filepath.Join(cfg.DataDir, "process"))
	}
	return nil, &cli.ExitError{Code: cli.ExitInvalid, Err: fmt.Errorf("unknown driver %q: use docker or process", cfg.Driver)}
}

// listenSocket listens on the API's unix socket, readable by the owner only.
// A socket file left by a killed server is replaced; one that answers
// belongs to a live server and is an error.
func listenSocket(path string) (net.Listener, error) {
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("another haven server is already listening on %s", path)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("api socket %s: %w", path, err)
	}
	return ln, nil
}
