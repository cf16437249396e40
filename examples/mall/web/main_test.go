package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	h := routes()
	tests := []struct {
		path, contains string
		status         int
	}{
		{"/", "<title>", http.StatusOK},
		{"/app.js", "/api/products", http.StatusOK},
		{"/style.css", "font-family", http.StatusOK},
		{"/healthz", "ok", http.StatusOK},
		{"/nope", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("GET %s: %d %.60q, want %d containing %q", tt.path, rec.Code, rec.Body.String(), tt.status, tt.contains)
		}
	}
}
