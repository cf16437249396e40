package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/secrets"
)

func (h *Handler) listSecrets(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	list, err := h.secrets.List(r.Context(), r.PathValue("env"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

// getSecret is the one answer that carries a secret value: raw bytes, to an
// identity holding secret.read on the environment, never cached.
func (h *Handler) getSecret(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, badRequest("version must be a positive number"))
			return
		}
		version = n
	}
	value, v, err := h.secrets.Get(r.Context(), r.PathValue("env"), r.PathValue("name"), version)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Haven-Secret-Version", strconv.Itoa(v))
	_, _ = w.Write(value)
}

// setSecret stores the request body as a new version.
func (h *Handler) setSecret(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	value, err := readBody(w, r, secrets.MaxValueSize)
	if err != nil {
		writeError(w, fmt.Errorf("secret value: %w", err))
		return
	}
	v, err := h.secrets.Set(r.Context(), r.PathValue("env"), r.PathValue("name"), value, actor(id))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SecretVersion{Version: v})
}

func (h *Handler) deleteSecret(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	if err := h.secrets.Delete(r.Context(), r.PathValue("env"), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	keyID, err := h.secrets.RotateKey(r.Context(), h.dataDir)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"key_id": keyID})
}
