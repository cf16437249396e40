package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/logs"
	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Deps are what the API serves.
type Deps struct {
	Control *control.Controller
	Auth    *auth.Service
	Secrets *secrets.Store
	Audit   *audit.Log
	// Denials counts refused requests (unauthenticated ones, and a known
	// actor's beyond its per-minute budget) into one audit record per key
	// and minute; nil means the handler makes its own, whose last
	// minute is lost at exit. The caller closes it before Audit.
	Denials *audit.Aggregator
	// Alerts evaluates alert rules (nil: none).
	Alerts *control.AlertLoop
	// DataDir is where the master key lives, for its rotation.
	DataDir string
	Version Version
	Logger  *slog.Logger
}

// Handler serves the API.
type Handler struct {
	ctl     *control.Controller
	auth    *auth.Service
	secrets *secrets.Store
	audit   *audit.Log
	denials *audit.Aggregator
	alerts  *control.AlertLoop
	dataDir string
	version Version
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
}

// NewHandler returns the API handler. Every route is registered here, each
// with the permission it needs and, when it changes something, the action
// the audit trail records.
func NewHandler(d Deps) *Handler {
	h := &Handler{ctl: d.Control, auth: d.Auth, secrets: d.Secrets, audit: d.Audit, alerts: d.Alerts, dataDir: d.DataDir,
		version: d.Version, log: d.Logger.With("component", "api"), mux: http.NewServeMux(), denials: d.Denials}
	if h.denials == nil && d.Audit != nil {
		h.denials = audit.NewAggregator(d.Audit, audit.AggregatorOptions{Logger: h.log})
	}
	for _, rt := range []Route{
		{Method: "GET", Pattern: "/v1/healthz", Perm: PermPublic, handle: h.healthz},
		{Method: "POST", Pattern: "/v1/login", Perm: PermPublic, handle: h.login},

		{Method: "GET", Pattern: "/v1/version", Perm: auth.PermTokenSelf, handle: h.getVersion},
		{Method: "GET", Pattern: "/v1/whoami", Perm: auth.PermTokenSelf, handle: h.whoami},
		{Method: "GET", Pattern: "/v1/tokens", Perm: auth.PermTokenSelf, handle: h.listTokens},
		{Method: "POST", Pattern: "/v1/tokens", Perm: auth.PermTokenSelf, Action: "token.create", handle: h.createToken},
		{Method: "DELETE", Pattern: "/v1/tokens/{id}", Perm: auth.PermTokenSelf, Action: "token.revoke", handle: h.revokeToken},
		{Method: "POST", Pattern: "/v1/mfa/enable", Perm: auth.PermTokenSelf, Action: "mfa.enable", handle: h.enableMFA},
		{Method: "POST", Pattern: "/v1/mfa/confirm", Perm: auth.PermTokenSelf, Action: "mfa.confirm", handle: h.confirmMFA},
		{Method: "POST", Pattern: "/v1/mfa/disable", Perm: auth.PermTokenSelf, Action: "mfa.disable", handle: h.disableMFA},

		{Method: "GET", Pattern: "/v1/deployments", Perm: auth.PermAppRead, handle: h.listDeployments},
		{Method: "GET", Pattern: "/v1/status", Perm: auth.PermAppRead, handle: h.status},
		{Method: "GET", Pattern: "/v1/envs", Perm: auth.PermAppRead, handle: h.listEnvs},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/instances", Perm: auth.PermAppRead, handle: h.instances},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/services/{service}/logs", Perm: auth.PermAppLogs, handle: h.logs},
		{Method: "PUT", Pattern: "/v1/deployments/{app}/{env}", Perm: auth.PermAppDeploy, Action: "deploy", handle: h.deploy},
		{Method: "DELETE", Pattern: "/v1/deployments/{app}/{env}", Perm: auth.PermAppDeploy, Action: "down", handle: h.down},
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/scale", Perm: auth.PermAppDeploy, Action: "scale", handle: h.scale},
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/services/{service}/image", Perm: auth.PermAppDeploy, Action: "deploy.image", handle: h.setImage},
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/services/{service}/rollback", Perm: auth.PermAppDeploy, Action: "rollback", handle: h.rollback},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/services/{service}/revisions", Perm: auth.PermAppRead, handle: h.revisions},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/releases", Perm: auth.PermAppRead, handle: h.releases},
		{Method: "GET", Pattern: "/v1/events", Perm: auth.PermAppRead, handle: h.events},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/metrics", Perm: auth.PermAppRead, handle: h.metrics},
		{Method: "GET", Pattern: "/v1/alerts", Perm: auth.PermAppRead, handle: h.listAlerts},
		{Method: "POST", Pattern: "/v1/envs/{env}/silences", Perm: auth.PermAppDeploy, Action: "alert.silence", handle: h.silence},

		{Method: "POST", Pattern: "/v1/envs/{env}", Perm: auth.PermEnvManage, Action: "env.create", handle: h.createEnv},
		{Method: "DELETE", Pattern: "/v1/envs/{env}", Perm: auth.PermEnvManage, Action: "env.delete", handle: h.deleteEnv},
		{Method: "GET", Pattern: "/v1/envs/{env}/secrets", Perm: auth.PermSecretList, handle: h.listSecrets},
		{Method: "GET", Pattern: "/v1/envs/{env}/secrets/{name}", Perm: auth.PermSecretRead, Action: "secret.get", handle: h.getSecret},
		{Method: "PUT", Pattern: "/v1/envs/{env}/secrets/{name}", Perm: auth.PermSecretWrite, Action: "secret.set", handle: h.setSecret},
		{Method: "DELETE", Pattern: "/v1/envs/{env}/secrets/{name}", Perm: auth.PermSecretWrite, Action: "secret.rm", handle: h.deleteSecret},

		{Method: "POST", Pattern: "/v1/secrets/rotate-key", Perm: auth.PermAdmin, Action: "secret.rotate-key", handle: h.rotateKey},
		{Method: "GET", Pattern: "/v1/users", Perm: auth.PermAdmin, handle: h.listUsers},
		{Method: "POST", Pattern: "/v1/users", Perm: auth.PermAdmin, Action: "user.add", handle: h.addUser},
		{Method: "DELETE", Pattern: "/v1/users/{name}", Perm: auth.PermAdmin, Action: "user.remove", handle: h.removeUser},
		{Method: "PUT", Pattern: "/v1/users/{name}/bindings", Perm: auth.PermAdmin, Action: "user.bind", handle: h.setBindings},
		{Method: "DELETE", Pattern: "/v1/users/{name}/mfa", Perm: auth.PermAdmin, Action: "user.mfa-reset", handle: h.resetMFA},
		{Method: "GET", Pattern: "/v1/audit", Perm: auth.PermAdmin, handle: h.queryAudit},
		{Method: "GET", Pattern: "/v1/audit/verify", Perm: auth.PermAdmin, handle: h.verifyAudit},

		// The compose habits (verbs.go). exec needs app.deploy: a command in
		// an instance reads what the app reads, its secrets included, which
		// is what a deploy can already do; the audit record names the
		// service and instance, never the command.
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/services/{service}/instances/{instance}/exec", Perm: auth.PermAppDeploy, Action: "exec", handle: h.exec},
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/services/{service}/restart", Perm: auth.PermAppDeploy, Action: "restart", handle: h.restart},
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/services/{service}/stop", Perm: auth.PermAppDeploy, Action: "stop", handle: h.stopService},
		{Method: "POST", Pattern: "/v1/deployments/{app}/{env}/services/{service}/start", Perm: auth.PermAppDeploy, Action: "start", handle: h.startService},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/images", Perm: auth.PermAppRead, handle: h.images},
		{Method: "GET", Pattern: "/v1/deployments/{app}/{env}/services/{service}/ports/{port}", Perm: auth.PermAppRead, handle: h.port},
	} {
		h.register(rt)
	}
	return h
}

// ServeHTTP implements http.Handler, logging every call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(rec, r)
	level := slog.LevelDebug
	anyone := rec.status == http.StatusUnauthorized || rec.status == http.StatusTooManyRequests || r.Pattern == ""
	if (r.Method != http.MethodGet || rec.status >= 400) && !anyone {
		// What anyone can cause — unauthenticated and rate-limited calls,
		// and paths no route matches (the mux leaves r.Pattern empty) —
		// logs at debug level only: a line each would let anyone grow the
		// server log at will. The audit trail counts the refusals.
		level = slog.LevelInfo
	}
	h.log.Log(r.Context(), level, "api call", "method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", time.Since(start).Milliseconds())
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) getVersion(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	writeJSON(w, http.StatusOK, h.version)
}

// maxBody bounds request bodies: a compose app is kilobytes.
const maxBody = 4 << 20

func (h *Handler) deploy(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req DeployRequest
	if !decode(w, r, &req) {
		return
	}
	if app := r.PathValue("app"); req.App.Name != app {
		writeError(w, badRequest("the app name in the body ("+req.App.Name+") differs from the one in the URL ("+app+")"))
		return
	}
	if msg := privilegedRefusal(id, r.PathValue("env"), req.App); msg != "" { // privileged.go
		writeJSON(w, http.StatusForbidden, Error{Kind: KindForbidden, Message: msg})
		return
	}
	d, changes, err := h.ctl.Deploy(r.Context(), r.PathValue("env"), req.App)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, DeployResponse{Deployment: d, Changes: changes})
}

func (h *Handler) scale(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req ScaleRequest
	if !decode(w, r, &req) {
		return
	}
	d, err := h.ctl.Scale(r.Context(), appEnv(r), req.Replicas)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) down(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	if err := h.ctl.Down(r.Context(), appEnv(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	ds, err := h.ctl.Deployments(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	visible := []spec.Deployment{}
	for _, d := range ds {
		if id.Can(auth.PermAppRead, d.AppEnv.Env) {
			visible = append(visible, d)
		}
	}
	writeJSON(w, http.StatusOK, visible)
}

func (h *Handler) instances(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	list, err := h.ctl.Instances(r.Context(), appEnv(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	st, err := h.ctl.Status(r.Context(), r.URL.Query().Get("app"), r.URL.Query().Get("env"))
	if err != nil {
		writeError(w, err)
		return
	}
	visible := []spec.EnvStatus{}
	for _, s := range st {
		if id.Can(auth.PermAppRead, s.AppEnv.Env) {
			visible = append(visible, s)
		}
	}
	writeJSON(w, http.StatusOK, visible)
}

// logs streams NDJSON, one logs.Line per line, flushed as written.
// Filters: since, tail, instance, grep (a regular expression on the text),
// field=key=value (repeatable, on JSON lines), follow=1.
func (h *Handler) logs(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	target := appEnv(r)
	qs := r.URL.Query()
	q := logs.Query{Env: target.Env, App: target.App, Service: r.PathValue("service"), Instance: qs.Get("instance"), Follow: qs.Get("follow") == "1"}
	if s := qs.Get("since"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			writeError(w, err)
			return
		}
		q.Since = t
	}
	if s := qs.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, badRequest("tail must be a number of lines"))
			return
		}
		q.Tail = n
	}
	if s := qs.Get("grep"); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			writeError(w, badRequest("grep: "+err.Error()))
			return
		}
		q.Grep = re
	}
	for _, f := range qs["field"] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			writeError(w, badRequest("field "+f+" must be KEY=VALUE, for example level=error"))
			return
		}
		if q.Fields == nil {
			q.Fields = map[string]string{}
		}
		q.Fields[k] = v
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	started := false
	err := h.ctl.Logs(r.Context(), q, func(l logs.Line) error {
		started = true
		if err := enc.Encode(l); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
	if err != nil && !started && r.Context().Err() == nil {
		w.Header().Del("Content-Type")
		writeError(w, err)
	}
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, badRequest("since must be an RFC 3339 time, for example 2026-01-02T15:04:05Z")
	}
	return t, nil
}

func appEnv(r *http.Request) spec.AppEnv {
	return spec.AppEnv{App: r.PathValue("app"), Env: r.PathValue("env")}
}

// decode reads r's JSON body into v, refusing unknown fields and bodies
// over maxBody. A body over the limit answers 413, whether its
// Content-Length says so up front or a chunked body runs past the limit
// while it is read; anything else malformed answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > maxBody {
		writeError(w, errTooLarge{r.ContentLength, maxBody})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, errTooLarge{-1, maxBody})
			return false
		}
		writeError(w, badRequest("request body: "+err.Error()))
		return false
	}
	return true
}

// readBody reads r's raw body, refusing one over limit bytes (413), as
// decode does for JSON.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge{r.ContentLength, limit}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return nil, errTooLarge{-1, limit}
	case err != nil:
		return nil, badRequest("request body: " + err.Error())
	}
	return b, nil
}

// errTooLarge is a request body over its limit; errorKind answers it 413.
type errTooLarge struct{ declared, limit int64 }

func (e errTooLarge) Error() string {
	size := "is larger"
	if e.declared > 0 {
		size = "of " + strconv.FormatInt(e.declared, 10) + " bytes is larger"
	}
	limit := strconv.FormatInt(e.limit>>10, 10) + " KiB"
	if e.limit%(1<<20) == 0 {
		limit = strconv.FormatInt(e.limit>>20, 10) + " MiB"
	}
	return "request body " + size + " than the limit of " + limit + " (" + strconv.FormatInt(e.limit, 10) + " bytes); send less"
}

// errorKind maps an error to its kind and HTTP status: the one place where
// Haven's errors meet HTTP.
func errorKind(err error) (string, int) {
	var bad badRequest
	var big errTooLarge
	switch {
	case errors.As(err, &big):
		return KindInvalid, http.StatusRequestEntityTooLarge
	case errors.As(err, &bad), errors.Is(err, spec.ErrInvalid), errors.Is(err, driver.ErrImageNotFound), errors.Is(err, auth.ErrInvalid), errors.Is(err, secrets.ErrInvalid):
		return KindInvalid, http.StatusBadRequest
	case errors.Is(err, auth.ErrUnauthenticated), errors.Is(err, auth.ErrMFARequired):
		return KindUnauthenticated, http.StatusUnauthorized
	case errors.Is(err, auth.ErrRateLimited):
		return KindRateLimited, http.StatusTooManyRequests
	case errors.Is(err, audit.ErrUnavailable):
		return KindUnavailable, http.StatusServiceUnavailable
	case errors.Is(err, auth.ErrNotFound), errors.Is(err, secrets.ErrNotFound):
		return KindNotFound, http.StatusNotFound
	case errors.Is(err, store.ErrNotFound), errors.Is(err, driver.ErrNotFound):
		return KindNotFound, http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, driver.ErrPortInUse), errors.Is(err, secrets.ErrKeyFromEnv), errors.Is(err, auth.ErrExists):
		return KindConflict, http.StatusConflict
	case errors.Is(err, driver.ErrUnavailable):
		return KindUnavailable, http.StatusServiceUnavailable
	}
	return KindInternal, http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	kind, status := errorKind(err)
	writeJSON(w, status, Error{Kind: kind, Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// badRequest is a malformed request (as opposed to an invalid app).
type badRequest string

func (b badRequest) Error() string { return string(b) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Hijack lets exec take the connection over through the recorder, which
// then records 101 Switching Protocols as the call's status.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil {
		s.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Flush lets streaming handlers flush through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
