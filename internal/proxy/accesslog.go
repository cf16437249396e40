package proxy

import (
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// recorder notes the status and size of the response for the access log.
// It exposes the underlying writer through Unwrap, which is how
// http.ResponseController (used by ReverseProxy) reaches Flush and Hijack.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx (103 Early Hints) are not final
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessEntry is one line of the access log. The path is logged without
// its query string, where tokens and other secrets tend to travel.
type accessEntry struct {
	Time       string  `json:"time"`
	RequestID  string  `json:"request_id"`
	Remote     string  `json:"remote"`
	Host       string  `json:"host"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	Backend    string  `json:"backend,omitempty"`
	Target     string  `json:"target,omitempty"`
	Group      string  `json:"group,omitempty"`
	Attempts   int     `json:"attempts,omitempty"`
}

func (p *Proxy) logAccess(start time.Time, r *http.Request, rec *recorder, ex *exchange) {
	e := accessEntry{
		Time:       start.UTC().Format(time.RFC3339Nano),
		RequestID:  ex.id,
		Remote:     r.RemoteAddr,
		Host:       r.Host,
		Method:     r.Method,
		Path:       r.URL.Path,
		Status:     rec.status,
		Bytes:      rec.bytes,
		DurationMS: float64(time.Since(start).Microseconds()) / 1000,
		Attempts:   ex.attempts,
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		e.Remote = host
	}
	if e.Status == 0 || ex.status == statusClientClosed {
		e.Status = ex.status // 499, or 101 for an upgrade (written on the hijacked conn)
	}
	if ex.backend != nil {
		e.Backend = ex.backend.name
	}
	if ex.target != nil {
		e.Target, e.Group = ex.target.id, ex.group
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	line = append(line, '\n')
	p.logMu.Lock()
	_, _ = p.cfg.AccessLog.Write(line)
	p.logMu.Unlock()
}
