package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTooLargeBodiesAre413: over real HTTP, a body over the API's limit —
// 4 MiB for JSON, 64 KiB for a secret's value — answers 413 naming the
// limit, whether its length is declared or it is sent chunked.
func TestTooLargeBodiesAre413(t *testing.T) {
	h := newHaven(t, "process")
	h.startServer()
	admin := h.adminAPI(t)
	for _, tc := range []struct {
		name, method, path, body string
		chunked                  bool
		want                     string
	}{
		{"deploy, declared", http.MethodPut, "/v1/deployments/big/default", `{"app":{"name":"` + strings.Repeat("a", 4<<20) + `"}}`, false, "the limit of 4 MiB (4194304 bytes)"},
		{"deploy, chunked", http.MethodPut, "/v1/deployments/big/default", `{"app":{"name":"` + strings.Repeat("a", 4<<20) + `"}}`, true, "the limit of 4 MiB (4194304 bytes)"},
		{"secret, declared", http.MethodPut, "/v1/envs/prod/secrets/big", strings.Repeat("s", 64<<10+1), false, "secret value: request body of 65537 bytes is larger than the limit of 64 KiB (65536 bytes)"},
		{"secret, chunked", http.MethodPut, "/v1/envs/prod/secrets/big", strings.Repeat("s", 64<<10+1), true, "the limit of 64 KiB (65536 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // length unknown: sent chunked
			}
			req, _ := http.NewRequest(tc.method, "http://haven"+tc.path, body)
			if tc.chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Authorization", "Bearer "+admin.token)
			resp, err := admin.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), tc.want) {
				t.Fatalf("answer %d %s, want 413 with %q", resp.StatusCode, b, tc.want)
			}
		})
	}
}
