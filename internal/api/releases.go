package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/haven-platform/haven/internal/auth"
)

func (h *Handler) setImage(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req ImageRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Image == "" {
		writeError(w, badRequest("image is empty: pass SERVICE=IMAGE[:TAG]"))
		return
	}
	if msg := h.imageRefusal(r.Context(), id, appEnv(r), r.PathValue("service")); msg != "" { // privileged.go
		writeJSON(w, http.StatusForbidden, Error{Kind: KindForbidden, Message: msg})
		return
	}
	d, changes, err := h.ctl.SetImage(r.Context(), appEnv(r), r.PathValue("service"), req.Image)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, DeployResponse{Deployment: d, Changes: changes})
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	var req RollbackRequest
	if !decode(w, r, &req) {
		return
	}
	rev, err := h.ctl.Rollback(r.Context(), appEnv(r), r.PathValue("service"), req.To)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rev)
}

func (h *Handler) revisions(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	revs, err := h.ctl.Revisions(r.Context(), appEnv(r), r.PathValue("service"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(revs))
}

func (h *Handler) releases(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 20
	}
	rels, err := h.ctl.Releases(r.Context(), appEnv(r), r.URL.Query().Get("service"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(rels))
}

// events streams NDJSON events the caller may read, after ?after=SEQ;
// with follow=1 it keeps streaming new ones.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	follow := r.URL.Query().Get("follow") == "1"
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	for {
		evs, err := h.ctl.Events(r.Context(), after, 1000)
		if err != nil {
			return
		}
		for _, e := range evs {
			after = e.Seq
			if !id.Can(auth.PermAppRead, e.AppEnv.Env) {
				continue
			}
			if enc.Encode(e) != nil {
				return
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !follow {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}
