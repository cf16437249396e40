package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/haven-platform/haven/internal/spec"
)

// fuzzSeeds are x-haven-heavy compose files: every x-haven block Haven
// reads (routes with limits, both health checks, each release strategy,
// alerts), valid and slightly wrong, so the fuzzer starts from the shapes
// the hand-written mapper walks rather than from YAML in general.
var fuzzSeeds = []string{
	`services:
  api:
    image: shop/api:1
    x-haven:
      routes:
        - {host: shop.localhost, path: /api, port: 8080, strip_prefix: true,
           limits: {max_body: 10m, body_timeout: 10s, max_conns_per_client: 32}}
        - port: 8080
          limits: {max_body: 1048576}
      healthcheck: {type: http, path: /healthz, port: 8080, interval: 1s, timeout: 500ms, retries: 5, start_period: 10s}
      release:
        strategy: canary
        steps: [{weight: 5, pause: 1m}, {weight: 25, pause: 30s}, {weight: 60}]
        analysis: {max_error_rate: 0.01, max_p95_ratio: 1.5, min_p95: 100ms, min_requests: 10}
        migrate: ["/app/api", "migrate"]
        drain_timeout: 45s
      alerts:
        - {name: hot, metric: cpu_limit_ratio, value: 0.9, for: 5m, severity: critical, labels: {team: shop}}
`,
	`services:
  web:
    image: shop/web:1
    deploy: {replicas: 2}
    x-haven:
      healthcheck: {type: tcp, port: 80}
      release: {strategy: blue-green, bake_time: 5m, migrate: ./manage.py migrate --noinput}
`,
	`name: app
services:
  cache:
    image: redis:7
    ports: ["127.0.0.1:6379:6379"]
    x-haven:
      release: {strategy: rolling, max_surge: 0, max_unavailable: 1, drain_timeout: 2m}
`,
	`x-base: &base
  image: x
  x-haven: {routes: [{port: 80, path: /a}]}
services:
  a: *base
  b:
    <<: *base
    x-haven: {routes: [{port: 80, path: /a}]}
`,
	`services:
  a:
    image: x
    x-haven:
      routes: [{port: ${PORT:-8080}, host: "${HOST}"}]
      release: {strategy: "${S:-canary}", steps: 10}
      alerts: {name: x}
`,
}

// FuzzLoad feeds arbitrary bytes to Load as the project's compose.yaml,
// the entry point `haven validate` uses. Load must never panic or hang,
// and must answer either an App that passes spec.Validate or an error
// that is spec.ErrInvalid; when the input is YAML, every problem names
// the file and a line in it.
func FuzzLoad(f *testing.F) {
	if err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) || strings.Contains(p, "testdata/fuzz/") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f.Add(b)
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}

	// One project directory per fuzzing process, holding what the full
	// seed refers to (env file, secret files, bind-mount sources), so
	// inputs derived from it get past the file checks to the mapper.
	dir := filepath.Join(f.TempDir(), "proj")
	for _, d := range []string{"api", "config", "static"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	for _, name := range []string{"api.env", "api_key.txt", "db_password.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", "full", name))
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	file := filepath.Join(dir, "compose.yaml")

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxFileBytes {
			return // refused before parsing; TestLoad covers it
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A hang is a crash the fuzzer keeps: panic (not t.Fatal, which
		// would wait for Load) with the goroutines' stacks.
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				panic(fmt.Sprintf("Load did not return within 30s for input %q", data))
			}
		}()
		app, err := Load(ctx, Options{Files: []string{file}, WorkingDir: dir, Environment: env})
		if err == nil {
			if app == nil {
				t.Fatal("Load returned neither an app nor an error")
			}
			if verr := app.Validate(); verr != nil {
				t.Fatalf("Load returned an app that fails Validate: %v", verr)
			}
			// The CLI sends the app to the server as JSON, which decodes it
			// strictly and validates it again: what loads must deploy.
			b, merr := json.Marshal(app)
			if merr != nil {
				t.Fatalf("the loaded app does not encode: %v", merr)
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var back spec.App
			if derr := dec.Decode(&back); derr != nil {
				t.Fatalf("the loaded app's JSON does not decode: %v\n%s", derr, b)
			}
			if verr := back.Validate(); verr != nil {
				t.Fatalf("the loaded app fails Validate once through JSON: %v\n%s", verr, b)
			}
			return
		}
		if !errors.Is(err, spec.ErrInvalid) {
			t.Fatalf("Load's error is not spec.ErrInvalid: %v", err)
		}
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil {
			return // a syntax error: placed as well as the parser can
		}
		for _, p := range problemList(err) {
			if p.Pos.File == "" || p.Pos.Line < 1 {
				t.Errorf("problem without a file:line in YAML-valid input: %q", p.Msg)
			}
		}
	})
}

// problemList returns the Problems an error from Load is made of.
func problemList(err error) []*Problem {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []*Problem
	for _, e := range list {
		var p *Problem
		if errors.As(e, &p) {
			out = append(out, p)
		} else {
			out = append(out, &Problem{Msg: "not a *Problem: " + e.Error()})
		}
	}
	return out
}
