package proxy

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// accessLog writes one JSON line per request, whatever answered it. It is
// the outermost link, so it sees the final status of error pages too, and
// it is left out of the chain when there is no access log.
type accessLog struct {
	out  io.Writer
	mu   sync.Mutex // one line at a time
	next handler
}

func withAccessLog(out io.Writer) middleware {
	if out == nil {
		return nil
	}
	return func(next handler) handler { return &accessLog{out: out, next: next} }
}

func (m *accessLog) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	// The recorder lives in the exchange: no allocation of its own.
	rec := &ex.rec
	rec.ResponseWriter = w
	// Deferred, so the line is written even when ReverseProxy aborts a
	// broken response body with panic(http.ErrAbortHandler).
	defer m.log(time.Now(), r, rec, ex)
	return m.next.serve(rec, r, ex)
}

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

func (m *accessLog) log(start time.Time, r *http.Request, rec *recorder, ex *exchange) {
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
	m.mu.Lock()
	_, _ = m.out.Write(line)
	m.mu.Unlock()
}
