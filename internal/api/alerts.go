package api

import (
	"net/http"
	"time"

	"github.com/haven-platform/haven/internal/alerts"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/spec"
)

// SilenceRequest is the body of POST /v1/envs/{env}/silences.
type SilenceRequest struct {
	Matchers map[string]string `json:"matchers"`
	For      spec.Duration     `json:"for"`
	Comment  string            `json:"comment,omitempty"`
}

// listAlerts answers the alerts of environments the caller may read.
func (h *Handler) listAlerts(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	visible := []alerts.Alert{}
	if h.alerts != nil {
		for _, a := range h.alerts.Alerts() {
			if id.Can(auth.PermAppRead, a.Labels["env"]) {
				visible = append(visible, a)
			}
		}
	}
	writeJSON(w, http.StatusOK, visible)
}

// silence mutes alerts of one environment (the env matcher is forced).
func (h *Handler) silence(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req SilenceRequest
	if !decode(w, r, &req) {
		return
	}
	if req.For <= 0 || req.For.D() > 7*24*time.Hour {
		writeError(w, badRequest("for must be a duration up to 168h, for example 1h"))
		return
	}
	if h.alerts == nil {
		writeError(w, badRequest("this server evaluates no alerts"))
		return
	}
	m := map[string]string{}
	for k, v := range req.Matchers {
		m[k] = v
	}
	m["env"] = r.PathValue("env")
	s := h.alerts.Silence(alerts.Silence{Matchers: m, Until: time.Now().Add(req.For.D()), Comment: req.Comment, By: actor(id)})
	writeJSON(w, http.StatusOK, s)
}
