package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/store/bolt"
	"github.com/haven-platform/haven/internal/syncbuf"
)

// TestRefusalsAreCountedNotRecordedEach: unauthenticated requests leave no
// record of their own, only a count per source and minute written when
// the minute closes (here: when the aggregator closes); a known actor's
// denied calls get a record each up to deniedPerMinute, then are counted.
func TestRefusalsAreCountedNotRecordedEach(t *testing.T) {
	srv, au, log, denials := newAuditedServer(t, io.Discard)
	if err := au.AddUser("vera", "correct horse battery staple", []auth.Binding{{Role: auth.RoleViewer, Env: "prod"}}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := au.Login(t.Context(), "vera", "correct horse battery staple", "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	call := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/users", strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 50 {
		if code := call(""); code != http.StatusUnauthorized {
			t.Fatalf("anonymous: %d", code)
		}
	}
	if recs, _ := log.Query(audit.Filter{}); len(recs) != 0 {
		t.Fatalf("unauthenticated requests wrote %d records of their own, first %+v", len(recs), recs[0])
	}
	const denied = deniedPerMinute + 10
	for range denied {
		if code := call(tok); code != http.StatusForbidden {
			t.Fatalf("viewer: %d", code)
		}
	}
	if err := denials.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := log.Query(audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var own int
	var anonymous, vera uint64
	for _, r := range recs {
		switch {
		case r.Actor == "vera" && r.Count == 0:
			own++
		case r.Actor == "vera":
			vera += r.Count
		case r.Actor == "anonymous" && r.Action == "authenticate" && r.Result == "denied":
			anonymous += r.Count
		default:
			t.Errorf("unexpected record %+v", r)
		}
	}
	// The calls may straddle a minute boundary, which renews the budget.
	if anonymous != 50 || own < deniedPerMinute || own+int(vera) != denied {
		t.Errorf("anonymous counted %d (want 50); vera: %d records of their own (want %d) and %d counted, of %d", anonymous, own, deniedPerMinute, vera, denied)
	}
}

// TestFailedLoginFloodIsCounted: a flood of wrong passwords from one
// address gets a record each only up to failedLoginsPerMinute; the rest,
// nearly all of them refused by the limiter without a password check, are
// counted.
func TestFailedLoginFloodIsCounted(t *testing.T) {
	srv, au, log, denials := newAuditedServer(t, io.Discard)
	if err := au.AddUser("vera", "correct horse battery staple", nil); err != nil {
		t.Fatal(err)
	}
	login := func(password string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/login", strings.NewReader(`{"user":"vera","password":"`+password+`"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const flood = 300
	for range flood {
		if code := login("wrong password guess"); code < 400 {
			t.Fatalf("a wrong password: %d", code)
		}
	}
	if err := denials.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := log.Query(audit.Filter{Action: "login"})
	if err != nil {
		t.Fatal(err)
	}
	var own int
	var counted uint64
	for _, r := range recs {
		if r.Count == 0 {
			own++
		} else {
			counted += r.Count
		}
	}
	// The flood may straddle a minute boundary, which renews the budget.
	if own > 2*failedLoginsPerMinute || own+int(counted) != flood {
		t.Errorf("%d failed logins: %d records of their own (want at most %d a minute) and %d counted", flood, own, failedLoginsPerMinute, counted)
	}
}

// TestAnonymousTrafficDoesNotFillTheServerLog: unauthenticated calls and
// paths no route matches log at debug level only, so anyone cannot grow
// the server log a line per request.
func TestAnonymousTrafficDoesNotFillTheServerLog(t *testing.T) {
	var out syncbuf.Buffer
	srv, _, _, _ := newAuditedServer(t, &out)
	for range 20 {
		for _, path := range []string{"/v1/users", "/v1/no-such-route", "/etc/passwd"} {
			resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	if n := strings.Count(out.String(), "api call"); n != 0 {
		t.Errorf("60 anonymous requests logged %d lines:\n%s", n, out.String())
	}
}

// newAuditedServer serves the API with users, an audit log and its
// aggregator on a temporary data directory (no agent: these tests are about
// refused calls), logging at info level to out.
func newAuditedServer(t *testing.T, out io.Writer) (*httptest.Server, *auth.Service, *audit.Log, *audit.Aggregator) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "haven.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	au, err := auth.New(st.DB(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	denials := audit.NewAggregator(log, audit.AggregatorOptions{})
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := httptest.NewServer(NewHandler(Deps{Auth: au, Audit: log, Denials: denials, Logger: logger}))
	t.Cleanup(srv.Close)
	return srv, au, log, denials
}
