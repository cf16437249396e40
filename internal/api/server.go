package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/haven-platform/haven/internal/agent"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Handler serves the API.
type Handler struct {
	ctl     *control.Controller
	version Version
	log     *slog.Logger
	mux     *http.ServeMux
}

// NewHandler returns the API handler over ctl.
func NewHandler(ctl *control.Controller, version Version, logger *slog.Logger) *Handler {
	h := &Handler{ctl: ctl, version: version, log: logger.With("component", "api"), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, h.version) })
	h.mux.HandleFunc("GET /v1/deployments", h.listDeployments)
	h.mux.HandleFunc("PUT /v1/deployments/{app}/{env}", h.deploy)
	h.mux.HandleFunc("DELETE /v1/deployments/{app}/{env}", h.down)
	h.mux.HandleFunc("POST /v1/deployments/{app}/{env}/scale", h.scale)
	h.mux.HandleFunc("GET /v1/deployments/{app}/{env}/services/{service}/logs", h.logs)
	h.mux.HandleFunc("GET /v1/deployments/{app}/{env}/instances", h.instances)
	h.mux.HandleFunc("GET /v1/status", h.status)
	return h
}

// ServeHTTP implements http.Handler, logging every call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h.mux.ServeHTTP(rec, r)
	level := slog.LevelDebug
	if r.Method != http.MethodGet || rec.status >= 400 {
		level = slog.LevelInfo
	}
	h.log.Log(r.Context(), level, "api call", "method", r.Method, "path", r.URL.Path, "status", rec.status, "ms", time.Since(start).Milliseconds())
}

// maxBody bounds request bodies: a compose app is kilobytes.
const maxBody = 4 << 20

func (h *Handler) deploy(w http.ResponseWriter, r *http.Request) {
	var req DeployRequest
	if !decode(w, r, &req) {
		return
	}
	if app := r.PathValue("app"); req.App.Name != app {
		writeError(w, badRequest("the app name in the body ("+req.App.Name+") differs from the one in the URL ("+app+")"))
		return
	}
	d, changes, err := h.ctl.Deploy(r.Context(), r.PathValue("env"), req.App)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, DeployResponse{Deployment: d, Changes: changes})
}

func (h *Handler) scale(w http.ResponseWriter, r *http.Request) {
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

func (h *Handler) down(w http.ResponseWriter, r *http.Request) {
	if err := h.ctl.Down(r.Context(), appEnv(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listDeployments(w http.ResponseWriter, r *http.Request) {
	ds, err := h.ctl.Deployments(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(ds))
}

func (h *Handler) instances(w http.ResponseWriter, r *http.Request) {
	list, err := h.ctl.Instances(r.Context(), appEnv(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.ctl.Status(r.Context(), r.URL.Query().Get("app"), r.URL.Query().Get("env"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(st))
}

// logs streams NDJSON, one agent.LogLine per line, flushed as written.
func (h *Handler) logs(w http.ResponseWriter, r *http.Request) {
	q := agent.LogQuery{Env: appEnv(r), Service: r.PathValue("service"), Instance: r.URL.Query().Get("instance"), Follow: r.URL.Query().Get("follow") == "1"}
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, badRequest("since must be an RFC 3339 time, for example 2026-01-02T15:04:05Z"))
			return
		}
		q.Since = t
	}
	if s := r.URL.Query().Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, badRequest("tail must be a number of lines"))
			return
		}
		q.Tail = n
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	started := false
	err := h.ctl.Logs(r.Context(), q, func(l agent.LogLine) error {
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

func appEnv(r *http.Request) spec.AppEnv {
	return spec.AppEnv{App: r.PathValue("app"), Env: r.PathValue("env")}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, badRequest("request body: "+err.Error()))
		return false
	}
	return true
}

// errorKind maps an error to its kind and HTTP status: the one place where
// Haven's errors meet HTTP.
func errorKind(err error) (string, int) {
	var bad badRequest
	switch {
	case errors.As(err, &bad), errors.Is(err, spec.ErrInvalid), errors.Is(err, driver.ErrImageNotFound):
		return KindInvalid, http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound), errors.Is(err, driver.ErrNotFound):
		return KindNotFound, http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, driver.ErrPortInUse):
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

// Flush lets streaming handlers flush through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
