package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err    error
		kind   string
		status int
	}{
		{fmt.Errorf("%w: bad port", spec.ErrInvalid), KindInvalid, http.StatusBadRequest},
		{fmt.Errorf("service x: %w", driver.ErrImageNotFound), KindInvalid, http.StatusBadRequest},
		{badRequest("tail must be a number"), KindInvalid, http.StatusBadRequest},
		{fmt.Errorf("deployment a/b: %w", store.ErrNotFound), KindNotFound, http.StatusNotFound},
		{fmt.Errorf("x: %w", store.ErrConflict), KindConflict, http.StatusConflict},
		{fmt.Errorf("port 80: %w", driver.ErrPortInUse), KindConflict, http.StatusConflict},
		{fmt.Errorf("docker: %w", driver.ErrUnavailable), KindUnavailable, http.StatusServiceUnavailable},
		{errors.New("boom"), KindInternal, http.StatusInternalServerError},
	} {
		kind, status := errorKind(tc.err)
		if kind != tc.kind || status != tc.status {
			t.Errorf("errorKind(%v) = %s %d, want %s %d", tc.err, kind, status, tc.kind, tc.status)
		}
	}
}

// TestDecodeTooLargeIs413: a body over maxBody answers 413 with a message
// naming the limit, whether its Content-Length declares the size or a
// chunked body runs past the limit as it is read; one under the limit
// that is malformed still answers 400.
func TestDecodeTooLargeIs413(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10)) // -1: chunked
		if r.URL.Path == "/raw" {                                                  // as a secret's value is read
			if b, err := readBody(w, r, 64<<10); err != nil {
				writeError(w, err)
			} else {
				writeJSON(w, http.StatusOK, len(b))
			}
			return
		}
		var v ScaleRequest
		if decode(w, r, &v) {
			writeJSON(w, http.StatusOK, v)
		}
	}))
	defer srv.Close()
	big := `{"replicas":{"` + strings.Repeat("a", maxBody+1) + `":1}}`
	raw := strings.Repeat("s", 64<<10+1)
	for _, tc := range []struct {
		name    string
		path    string
		body    string
		chunked bool
		status  int
		want    string
	}{
		{"declared length", "/", big, false, http.StatusRequestEntityTooLarge, "request body of 4194324 bytes is larger than the limit of 4 MiB (4194304 bytes)"},
		{"chunked", "/", big, true, http.StatusRequestEntityTooLarge, "request body is larger than the limit of 4 MiB (4194304 bytes)"},
		{"small but malformed", "/", `{"replicas":`, false, http.StatusBadRequest, "request body"},
		{"small and fine", "/", `{"replicas":{"web":2}}`, true, http.StatusOK, ""},
		{"raw, declared length", "/raw", raw, false, http.StatusRequestEntityTooLarge, "larger than the limit of 64 KiB (65536 bytes)"},
		{"raw, chunked", "/raw", raw, true, http.StatusRequestEntityTooLarge, "larger than the limit of 64 KiB (65536 bytes)"},
		{"raw, at the limit", "/raw", raw[1:], true, http.StatusOK, "65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.chunked {
				req.ContentLength = -1
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if got := resp.Header.Get("X-Content-Length"); tc.chunked != (got == "-1") {
				t.Fatalf("the server saw Content-Length %s; chunked=%v", got, tc.chunked)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("answer %d %s, want %d with %q", resp.StatusCode, b, tc.status, tc.want)
			}
		})
	}
}
