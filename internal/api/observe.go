package api

import (
	"net/http"
	"time"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
)

// metrics answers GET …/metrics?name=cpu_cores&service=api&since=15m.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	q := control.MetricsQuery{Name: r.URL.Query().Get("name"), Service: r.URL.Query().Get("service"), Instance: r.URL.Query().Get("instance")}
	for key, dst := range map[string]*time.Duration{"since": &q.Since, "step": &q.Step} {
		if v := r.URL.Query().Get(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				writeError(w, badRequest(key+" must be a duration such as 15m"))
				return
			}
			*dst = d
		}
	}
	if q.Name == "" {
		writeError(w, badRequest("name the metric: ?name=cpu_cores (see docs/metrics.md)"))
		return
	}
	series, err := h.ctl.Metrics(r.Context(), appEnv(r), q)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(series))
}
