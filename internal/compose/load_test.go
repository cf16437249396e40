package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/spec"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// env is the interpolation environment of every test: fixed, so the
// developer's shell never changes a result.
var env = map[string]string{"HOME": "/home/test", "BAD_PORT": "99999"}

// golden compares got with testdata/name, or rewrites it with -update.
// Absolute paths under testdata are written as $TESTDATA so the files do not
// depend on where the repository is checked out.
func golden(t *testing.T, name string, app *spec.App) {
	t.Helper()
	got, err := json.MarshalIndent(app, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	got = append(bytes.ReplaceAll(got, []byte(abs), []byte("$TESTDATA")), '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update and review the diff):\ngot:\n%s", path, got)
	}
}

func TestLoadGolden(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		golden string
	}{
		{
			name: "full",
			opts: Options{
				Files: []string{"testdata/full/compose.yaml", "testdata/full/override.yaml"},
			},
			golden: "full.golden.json",
		},
		{
			name: "full with profile and name override",
			opts: Options{
				Files:       []string{"testdata/full/compose.yaml"},
				ProjectName: "shop-staging",
				Profiles:    []string{"debug-off"},
			},
			golden: "full-renamed.golden.json",
		},
		{
			name:   "discovery in working dir",
			opts:   Options{WorkingDir: "testdata/My_Dir"},
			golden: "dirname.golden.json",
		},
		{
			name:   "name from directory",
			opts:   Options{Files: []string{"testdata/My_Dir/compose.yaml"}},
			golden: "dirname.golden.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Environment = env
			app, err := Load(context.Background(), tt.opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			golden(t, tt.golden, app)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		files    []string // under testdata/bad, merged in order
		profiles []string
		want     string
	}{
		{[]string{"anonymous-volume.yaml"}, nil,
			"testdata/bad/anonymous-volume.yaml:5:9: service api: anonymous volume at /data is not supported; name it (\"data:/data\") and declare it under top-level `volumes:`\ntestdata/bad/anonymous-volume.yaml:6:9: service api: bind options (z, Z, propagation, recursive) are not supported by Haven yet; keep only ro or rw"},
		{[]string{"bad-name.yaml"}, nil,
			"testdata/bad/bad-name.yaml:1:7: app name \"My_Shop\" must be a lowercase DNS label (a-z, 0-9, '-', at most 63 characters); change `name:`"},
		{[]string{"cycle.yaml"}, nil,
			"testdata/bad/cycle.yaml:4:18: dependency cycle: a -> b -> c -> a; remove one of these depends_on entries"},
		{[]string{"duplicate-service.yaml"}, nil,
			"testdata/bad/duplicate-service.yaml:4:3: key \"api\" is already defined at line 2; remove or rename one of them"},
		{[]string{"malformed-flow.yaml"}, nil,
			"testdata/bad/malformed-flow.yaml:4:12: did not find expected ',' or ']' (while parsing a flow sequence); fix the YAML syntax (indent with spaces, quote values containing ': ' or '#')"},
		{[]string{"malformed-tab.yaml"}, nil,
			"testdata/bad/malformed-tab.yaml:3:1: found character that cannot start any token; fix the YAML syntax (indent with spaces, quote values containing ': ' or '#')"},
		{[]string{"malformed.yaml"}, nil,
			"testdata/bad/malformed.yaml:4:4: did not find expected key (while parsing a block mapping started at line 2, column 3); fix the YAML syntax (indent with spaces, quote values containing ': ' or '#')"},
		{[]string{"no-image.yaml"}, nil,
			"testdata/bad/no-image.yaml:2:3: service api: has neither `image:` nor `build:`; add one of them"},
		{[]string{"port-abc.yaml"}, nil,
			"testdata/bad/port-abc.yaml:5:9: service api: port \"abc\" is invalid: invalid containerPort: abc; write it as \"HOST:CONTAINER\" with ports 1-65535 (e.g. \"8080:80\")"},
		{[]string{"port-interpolated.yaml"}, nil,
			"testdata/bad/port-interpolated.yaml:5:9: service api: port \"${BAD_PORT}:80\" is invalid once interpolated: invalid hostPort: 99999; set the variable to a port 1-65535"},
		{[]string{"port-long.yaml"}, nil,
			"testdata/bad/port-long.yaml:5:9: service api: published port 70000 is not a valid port (1-65535)"},
		{[]string{"port-range.yaml"}, nil,
			"testdata/bad/port-range.yaml:6:9: service api: port \"70000:80\" is invalid: invalid hostPort: 70000; write it as \"HOST:CONTAINER\" with ports 1-65535 (e.g. \"8080:80\")"},
		{[]string{"ports-unpublished.yaml"}, nil,
			"testdata/bad/ports-unpublished.yaml:5:9: service api: port 80 has no published host port; Haven does not pick random host ports: write \"HOST:80\", or use expose/x-haven.routes to keep it off the host\ntestdata/bad/ports-unpublished.yaml:6:9: service api: published port \"9000-9001\" is not a single port; Haven publishes one host port per mapping: list each port separately"},
		{[]string{"published-replicas.yaml"}, nil,
			"testdata/bad/published-replicas.yaml:7:9: service api: publishes host port 8080 but has 3 replicas; only one instance can hold a host port, so route it through the ingress (x-haven.routes) instead"},
		{[]string{"route-conflict.yaml"}, nil,
			"testdata/bad/route-conflict.yaml:14:11: service legacy: route shop.localhost/api -> :9000 claims the same host and path as service api; give one of them another host or path"},
		{[]string{"schema.yaml"}, nil,
			"testdata/bad/schema.yaml:7:5: `services.api.environment` must be a mapping; see https://docs.docker.com/reference/compose-file/"},
		{[]string{"secret-env.yaml"}, nil,
			"testdata/bad/secret-env.yaml:7:5: secret token: key `environment` is not supported by Haven yet; remove it (Haven reads secrets from files only: `file: ./secret.txt`)"},
		{[]string{"undeclared.yaml"}, nil,
			"testdata/bad/undeclared.yaml:6:16: service api: uses network \"front\", which is not declared under top-level `networks:`; declare it there or fix the name"},
		{[]string{"unknown-dependency.yaml"}, nil,
			"testdata/bad/unknown-dependency.yaml:6:9: service api: depends_on names \"db\", which is not a service of this app (or is only in an inactive profile); fix the name, add the service or enable its profile"},
		{[]string{"unsupported-profile.yaml"}, nil,
			""},
		{[]string{"unsupported.yaml"}, nil,
			"testdata/bad/unsupported.yaml:4:5: service api: key `privileged` is not supported by Haven yet; remove it\ntestdata/bad/unsupported.yaml:5:5: service api: key `cap_add` is not supported by Haven yet; remove it\ntestdata/bad/unsupported.yaml:8:7: service api: key `deploy.placement` is not supported by Haven yet; remove it\ntestdata/bad/unsupported.yaml:12:7: service api: key `healthcheck.start_interval` is not supported by Haven yet; remove it (use interval)\ntestdata/bad/unsupported.yaml:14:15: service api: `volumes.type: tmpfs` is not supported by Haven yet; Haven mounts named volumes and bind mounts only\ntestdata/bad/unsupported.yaml:16:5: service api: `imagee` is not a compose key; fix its spelling or remove it\ntestdata/bad/unsupported.yaml:17:1: key `configs` is not supported by Haven yet; remove it (use a bind mount or a secret)"},
		{[]string{"xhaven-unknown.yaml"}, nil,
			"testdata/bad/xhaven-unknown.yaml:2:3: unknown key `strategy` in x-haven, which has no keys yet; remove it\ntestdata/bad/xhaven-unknown.yaml:8:11: service api: unknown key `hots` in x-haven.routes (known keys: `host`, `path`, `port`, `strip_prefix`); fix its spelling or remove it\ntestdata/bad/xhaven-unknown.yaml:13:9: service api: unknown key `intervall` in x-haven.healthcheck (known keys: `interval`, `path`, `port`, `retries`, `start_period`, `timeout`, `type`); fix its spelling or remove it\ntestdata/bad/xhaven-unknown.yaml:14:7: service api: unknown key `autoscale` in x-haven (known keys: `healthcheck`, `routes`); fix its spelling or remove it"},
		{[]string{"xhaven-values.yaml"}, nil,
			"testdata/bad/xhaven-values.yaml:6:11: service api: x-haven.routes.0.path: \"api\" must start with /\ntestdata/bad/xhaven-values.yaml:7:11: service api: x-haven.routes.0.port: must be a whole number, not \"abc\"\ntestdata/bad/xhaven-values.yaml:8:11: service api: x-haven.routes.1.host: \"shop.localhost:8080\" must be a lowercase host name without scheme, port or path (e.g. shop.example.com)\ntestdata/bad/xhaven-values.yaml:8:11: service api: x-haven.routes.1: a route needs `port:`, the container port requests go to\ntestdata/bad/xhaven-values.yaml:10:9: service api: x-haven.healthcheck.type: \"grpc\" is not a check type; use http or tcp\ntestdata/bad/xhaven-values.yaml:11:9: service api: x-haven.healthcheck.port: 70000 is not a valid port (1-65535)\ntestdata/bad/xhaven-values.yaml:12:9: service api: x-haven.healthcheck.interval: must be a duration like 1s, 500ms or 1m30s, not \"soon\""},
		{[]string{"override-base.yaml", "override-bad.yaml"}, nil,
			"testdata/bad/override-bad.yaml:3:5: service api: key `cap_drop` is not supported by Haven yet; remove it"},
		{[]string{"override-base.yaml", "override-port.yaml"}, nil,
			// compose appends the override's routes; the item is placed on
			// the nearest key the override file spells out.
			"testdata/bad/override-port.yaml:4:7: service api: x-haven.routes.1.port: 0 is not a valid port (1-65535)"},
		{[]string{"unsupported-profile.yaml"}, []string{"debug"},
			"testdata/bad/unsupported-profile.yaml:7:5: service debug: key `privileged` is not supported by Haven yet; remove it"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.files, "+"), func(t *testing.T) {
			var files []string
			for _, f := range tt.files {
				files = append(files, filepath.Join("testdata/bad", f))
			}
			_, err := Load(context.Background(), Options{
				Files:       files,
				Profiles:    tt.profiles,
				Environment: env,
			})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			if !errors.Is(err, spec.ErrInvalid) {
				t.Errorf("error does not match spec.ErrInvalid: %v", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\ngot:  %s\nwant: %s", strings.ReplaceAll(got, "\n", "\n      "), strings.ReplaceAll(tt.want, "\n", "\n      "))
			}
		})
	}
}

func TestProblemCarriesPosition(t *testing.T) {
	_, err := Load(context.Background(), Options{Files: []string{"testdata/bad/published-replicas.yaml"}, Environment: env})
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v holds no *Problem", err)
	}
	want := Position{File: "testdata/bad/published-replicas.yaml", Line: 7, Column: 9}
	if p.Pos != want {
		t.Errorf("Pos = %+v, want %+v", p.Pos, want)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(context.Background(), Options{Files: []string{"testdata/nope.yaml"}, Environment: env})
	want := "compose file testdata/nope.yaml does not exist; pass the right path with --file or run where compose.yaml is"
	if err == nil || err.Error() != want || !errors.Is(err, spec.ErrInvalid) {
		t.Errorf("err = %v, want %q wrapping spec.ErrInvalid", err, want)
	}
}

func TestDNSLabel(t *testing.T) {
	for in, want := range map[string]string{
		"my_dir":                "my-dir",
		"Shop":                  "shop",
		"__a__b__":              "a-b",
		strings.Repeat("x", 70): strings.Repeat("x", 63),
		"app.v2":                "app-v2",
	} {
		if got := dnsLabel(in); got != want {
			t.Errorf("dnsLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
