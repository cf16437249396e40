package api

import (
	"net/http"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
)

func (h *Handler) listEnvs(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	envs, err := h.ctl.Environments(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	visible := []control.Environment{}
	for _, e := range envs {
		if id.Can(auth.PermAppRead, e.Name) {
			visible = append(visible, e)
		}
	}
	writeJSON(w, http.StatusOK, visible)
}

func (h *Handler) createEnv(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req EnvCreateRequest
	if !decode(w, r, &req) {
		return
	}
	// Cloning reads the source environment: the caller must see it.
	if !id.Can(auth.PermAppRead, req.From) {
		writeJSON(w, http.StatusForbidden, Error{Kind: KindForbidden, Message: "permission app.read needed on environment " + req.From})
		return
	}
	env, err := h.ctl.CreateEnv(r.Context(), r.PathValue("env"), req.From, req.WithData)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, env)
}

func (h *Handler) deleteEnv(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	if err := h.ctl.DeleteEnv(r.Context(), r.PathValue("env")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) queryAudit(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	f := audit.Filter{Actor: r.URL.Query().Get("user"), Action: r.URL.Query().Get("action")}
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			writeError(w, err)
			return
		}
		f.Since = t
	}
	records, err := h.audit.Query(f)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(records))
}

func (h *Handler) verifyAudit(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	report, err := h.audit.Verify() // holds appends off while it reads
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}
