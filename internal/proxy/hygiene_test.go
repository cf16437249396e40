package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHygieneRefusesHTTP2(t *testing.T) {
	pri := httptest.NewRequest("PRI", "*", nil)
	h2 := httptest.NewRequest("GET", "/", nil)
	h2.ProtoMajor, h2.ProtoMinor, h2.Proto = 2, 0, "HTTP/2.0"
	for name, r := range map[string]*http.Request{"h2c preface": pri, "HTTP/2 request": h2} {
		n := &next{}
		err := withHygiene(n).serve(httptest.NewRecorder(), r, &exchange{})
		if rf := asRefusal(t, err, http.StatusHTTPVersionNotSupported); !rf.close {
			t.Errorf("%s: refusal keeps the connection", name)
		}
		if n.called {
			t.Errorf("%s: passed on", name)
		}
	}
}

func TestHygieneDropsH2cUpgrade(t *testing.T) {
	for _, tt := range []struct {
		upgrade string
		keep    bool
	}{{"h2c", false}, {"foo, H2C", false}, {"websocket", true}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Upgrade", tt.upgrade)
		r.Header.Set("Http2-Settings", "AAMAAABkAAQAAP__")
		n := &next{}
		if err := withHygiene(n).serve(httptest.NewRecorder(), r, &exchange{}); err != nil || !n.called {
			t.Fatalf("Upgrade %q: err %v, passed on %v", tt.upgrade, err, n.called)
		}
		if got := n.r.Header.Get("Upgrade") != ""; got != tt.keep {
			t.Errorf("Upgrade %q: kept %v, want %v", tt.upgrade, got, tt.keep)
		}
	}
}

func TestHygieneClosesAfterChunked(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		r := httptest.NewRequest("POST", "/", strings.NewReader("x"))
		if chunked {
			r.TransferEncoding = []string{"chunked"}
		}
		w := httptest.NewRecorder()
		if err := withHygiene(&next{}).serve(w, r, &exchange{}); err != nil {
			t.Fatal(err)
		}
		if got := w.Header().Get("Connection") == "close"; got != chunked {
			t.Errorf("chunked %v: Connection: close %v", chunked, got)
		}
	}
}
