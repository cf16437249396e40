package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/driver/process"
	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store/bolt"
)

// fuzzRoutes are the routes that read a request body, each with the body
// types it decodes. {x} is filled with the fuzzed path segment.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/login"},
	{"POST", "/v1/tokens"},
	{"POST", "/v1/mfa/enable"},
	{"POST", "/v1/mfa/confirm"},
	{"POST", "/v1/mfa/disable"},
	{"PUT", "/v1/deployments/{x}/prod"},
	{"POST", "/v1/deployments/shop/{x}/scale"},
	{"POST", "/v1/deployments/shop/prod/services/{x}/image"},
	{"POST", "/v1/deployments/shop/prod/services/{x}/rollback"},
	{"POST", "/v1/envs/{x}/silences"},
	{"POST", "/v1/envs/{x}"},
	{"PUT", "/v1/envs/prod/secrets/{x}"},
	{"POST", "/v1/users"},
	{"PUT", "/v1/users/{x}/bindings"},
}

// fuzzAdmin is the fuzzing session's own user, whose bindings and MFA the
// fuzzed requests must not take away (they would turn every later input
// into a 403 and the run into a test of the guard alone).
const fuzzAdmin = "fuzz-admin"

// fuzzPassword is every seed's password: no answer may repeat it.
const fuzzPassword = "correct horse battery staple"

// idleAgent is an agent that never reconciles: a deploy the fuzzer gets
// accepted is stored but never started.
type idleAgent struct{}

func (idleAgent) Nudge()                           {}
func (idleAgent) Status() []spec.EnvStatus         { return nil }
func (idleAgent) WaitPass(_ context.Context) error { return nil }

// fuzzServer is one API over real parts (bbolt store, auth, audit,
// secrets, the process driver for image checks) built once per fuzzing
// process, with shop deployed in prod so scale, image and rollback reach
// their handlers' logic.
type fuzzServer struct {
	url    string
	token  string
	client *http.Client
}

// newFuzzServer builds the server once per fuzzing process: the fuzzer
// then calls FuzzDecode's body many times against it.
func newFuzzServer(f *testing.F) *fuzzServer {
	dir := f.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "haven.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	kr, err := secrets.LoadKeyring(dir)
	if err != nil {
		f.Fatal(err)
	}
	sec, err := secrets.Open(st.DB(), kr)
	if err != nil {
		f.Fatal(err)
	}
	au, err := auth.New(st.DB(), time.Now)
	if err != nil {
		f.Fatal(err)
	}
	log, err := audit.Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { log.Close() })
	drv, err := process.New(filepath.Join(dir, "process"))
	if err != nil {
		f.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctl := &control.Controller{Store: st, Driver: drv, Agent: idleAgent{}, Secrets: sec}
	if _, _, err := ctl.Deploy(f.Context(), "prod", fuzzApp()); err != nil {
		f.Fatal(err)
	}
	// An alert loop that never runs: silences are kept, nothing evaluated.
	al := &control.AlertLoop{Store: st, Logger: logger}
	h := NewHandler(Deps{Control: ctl, Auth: au, Secrets: sec, Audit: log, Alerts: al, DataDir: dir, Logger: logger})
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)
	if err := au.AddUser(fuzzAdmin, fuzzPassword, []auth.Binding{{Role: auth.RoleAdmin, Env: "*"}}); err != nil {
		f.Fatal(err)
	}
	tok, _, err := au.Login(f.Context(), fuzzAdmin, fuzzPassword, "", "192.0.2.1")
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzServer{url: srv.URL, token: tok, client: &http.Client{Timeout: 20 * time.Second}}
}

// fuzzApp is the deployed app, and the body of the deploy seeds.
func fuzzApp() spec.App {
	return spec.App{Name: "shop", Services: []spec.Service{{
		Name: "web", Image: "shop/web:1", Command: []string{"true"}, Replicas: 2, Restart: spec.RestartAlways,
		Routes: []spec.Route{{Host: "shop.localhost", PathPrefix: "/", Port: 8080}},
	}}}
}

// FuzzDecode sends arbitrary bodies, as an authenticated admin, to every
// route that reads one, through the real handler over HTTP. The answer
// must never be a 500 (bad input is the caller's fault: a 4xx saying so)
// and must come within the client's timeout; a handler panic would close
// the connection and fail the request.
func FuzzDecode(f *testing.F) {
	deploy, _ := json.Marshal(DeployRequest{App: fuzzApp()})
	seeds := []struct {
		route int
		seg   string
		body  string
	}{
		{0, "", `{"user":"fuzz-admin","password":"wrong"}`},
		{0, "", `{"user":"x","password":"y","code":"123456"}`},
		{0, "", `{"user":"fuzz-admin","password":"correct horse battery staple"}`},
		{2, "", `{"password":"correct horse battery staple"}`},
		{1, "", `{"name":"sudo","password":"correct horse battery staple","ttl":"8760h"}`},
		{1, "", `{"name":"ci","bindings":[{"role":"developer","env":"prod"}],"ttl":"1h"}`},
		{1, "", `{"name":"ci","user":"nobody","password":"p","code":"1"}`},
		{2, "", `{"password":"wrong","code":"000000"}`},
		{3, "", `{"code":"123456"}`},
		{4, "", `{"password":"wrong","code":"000000"}`},
		{5, "shop", string(deploy)},
		{5, "shop", `{"app":{"name":"shop","services":[{"name":"web","image":"x","replicas":-1}]}}`},
		{5, "shop", `{"app":{"name":"shop","services":[{"name":"web","image":"x","routes":[{"port":0}],"release":{"strategy":"canary"}}]}}`},
		{6, "prod", `{"replicas":{"web":3}}`},
		{6, "prod", `{"replicas":{"nope":1,"web":-5}}`},
		{7, "web", `{"image":"shop/web:2"}`},
		{8, "web", `{"to":1}`},
		{9, "prod", `{"for":"1h","matchers":{"alert":"cpu"},"comment":"deploying"}`},
		{10, "staging", `{"from":"prod","with_data":true}`},
		{10, "qa", `{"from":"prod"}`},
		{11, "db_password", "s3cret"},
		{11, "", ""},
		{12, "", `{"name":"alice","password":"correct horse battery staple","bindings":[{"role":"viewer","env":"prod"}]}`},
		{13, "alice", `[{"role":"devops","env":"*"}]`},
		{13, "nobody", `null`},
		{5, "shop", `{"app":`},
		{1, "", `{"name":1e999}`},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.seg, []byte(s.body))
	}
	s := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, route uint8, seg string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if strings.Contains(rt.path, "/users/") && seg == fuzzAdmin {
			return // would take the fuzzing session's own rights away
		}
		path := strings.ReplaceAll(rt.path, "{x}", url.PathEscape(seg))
		req, err := http.NewRequest(rt.method, s.url+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("%s %s %q: %v (a handler panic or hang)", rt.method, path, body, err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, path, body, resp.StatusCode, answer)
		}
		// A refusal says why, as the API's JSON error (the mux's own 404
		// and 405 for paths no route matches are plain text).
		if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			var e Error
			if err := json.Unmarshal(answer, &e); err != nil || e.Kind == "" || e.Message == "" {
				t.Fatalf("%s %s %q: %d with no error kind and message: %s", rt.method, path, body, resp.StatusCode, answer)
			}
		}
		// Secrets never in answers: passwords, and a secret's value (unless
		// the value is also part of the secret's name, which an answer may
		// name).
		if bytes.Contains(answer, []byte(fuzzPassword)) || (strings.Contains(rt.path, "/secrets/") && len(body) >= 16 &&
			!strings.Contains(seg, string(body)) && bytes.Contains(answer, body)) {
			t.Fatalf("%s %s %q: the answer repeats a secret: %s", rt.method, path, body, answer)
		}
	})
}
