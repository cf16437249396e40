package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAccessLogLink: one line per request with what answered it: an error
// page a link inside returned, and a response aborted by a panic, which
// the server recovers.
func TestAccessLogLink(t *testing.T) {
	p := New(Config{})
	var buf bytes.Buffer
	h := chain(&next{err: &refusal{status: http.StatusNotFound, msg: "no route"}},
		withAccessLog(&buf), withRequestIDs(false), func(n handler) handler { return &errorPages{p: p, next: n} })
	r := httptest.NewRequest("GET", "http://shop.example/a?token=secret", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	_ = h.serve(httptest.NewRecorder(), r, &exchange{})

	aborting := chain(&next{run: func(w http.ResponseWriter, _ *http.Request, _ *exchange) {
		w.WriteHeader(http.StatusOK)
		panic(http.ErrAbortHandler)
	}}, withAccessLog(&buf))
	func() {
		defer func() { _ = recover() }()
		_ = aborting.serve(httptest.NewRecorder(), r, &exchange{})
	}()

	var lines []accessEntry
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var e accessEntry
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, e)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %s", len(lines), buf.Bytes())
	}
	if e := lines[0]; e.Status != 404 || e.Path != "/a" || e.Remote != "192.0.2.7" || len(e.RequestID) != 32 {
		t.Errorf("first line %+v, want 404 for /a from 192.0.2.7 with the request ID, no query", e)
	}
	if e := lines[1]; e.Status != 200 {
		t.Errorf("aborted response logged with status %d, want 200", e.Status)
	}
}

// TestNoAccessLogNoLink: without an access log the chain has no link for
// it, so a request pays nothing for it.
func TestNoAccessLogNoLink(t *testing.T) {
	if withAccessLog(nil) != nil {
		t.Error("withAccessLog(nil) builds a link")
	}
}
