package compose

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/spec"
)

// TestRuntimeKeysGolden loads one service with every runtime key
// (testdata/runtime) and compares the spec with the golden file: each key
// reaches spec.ContainerOptions (or the health check, or RestartRetries).
func TestRuntimeKeysGolden(t *testing.T) {
	app, err := Load(context.Background(), Options{Files: []string{"testdata/runtime/compose.yaml"}, Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	checkApp(t, "runtime.golden.json", app)
	api := app.Services[0]
	if api.RestartRetries != 3 || api.Restart != spec.RestartOnFailure {
		t.Errorf("restart: on-failure:3 became %q with %d retries", api.Restart, api.RestartRetries)
	}
	if s := api.Container.MemorySwappiness; s == nil || *s != 0 {
		t.Errorf("mem_swappiness: 0 was lost (got %v): 0 means never swap, not unset", s)
	}
	if got := api.Container.PrivilegedKeys(); strings.Join(got, ", ") != "cap_add: NET_ADMIN, pid: host, devices: /dev/null" {
		t.Errorf("PrivilegedKeys = %q", got)
	}
}

// TestRuntimeKeyErrors: each bad runtime value is one message at its
// file:line:col saying what to write instead.
func TestRuntimeKeyErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"runtime.yaml", strings.Join([]string{
			`testdata/bad/runtime.yaml:7:5: service api: stop_signal "SIGNOPE" is not a signal; write a name such as SIGTERM, SIGQUIT, SIGINT or SIGUSR1`,
			"testdata/bad/runtime.yaml:9:7: service api: ulimit nofile: soft limit 50000 is above the hard limit 100; write `nofile: {soft: N, hard: M}` with N <= M",
			`testdata/bad/runtime.yaml:10:7: service api: ulimit "bogus" is not a resource limit; use one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack, as`,
			`testdata/bad/runtime.yaml:11:19: service api: extra_hosts entry "db.local:not-an-ip" must be HOST:IP (or HOST=IP), like db.local:10.0.0.5 or host.docker.internal:host-gateway`,
			`testdata/bad/runtime.yaml:12:15: service api: cap_add "net admin" is not a capability name; write one like NET_BIND_SERVICE or CHOWN (see capabilities(7))`,
			"testdata/bad/runtime.yaml:13:5: service api: pid \"container:db\" is not supported by Haven; write `pid: host` or remove it (sharing another container's namespace ties two instances' lifetimes)",
			`testdata/bad/runtime.yaml:14:5: service api: mem_swappiness 200 must be between 0 and 100`,
			`testdata/bad/runtime.yaml:15:13: service api: tmpfs "relative/path" must start with an absolute path inside the container, like /tmp or /run:size=64m`,
			`testdata/bad/runtime.yaml:16:5: service api: restart "on-failure:many" is not a restart policy; write on-failure:N with N a count of retries (0 or more), or no, always, on-failure, unless-stopped`,
			`testdata/bad/runtime.yaml:17:15: service api: device "dev/fuse" must be an absolute host path, like /dev/fuse or /dev/ttyUSB0:/dev/ttyUSB0`,
			`testdata/bad/runtime.yaml:18:15: service api: dns_opt "ndots 2" is not a resolver option; write one like ndots:2, timeout:3 or use-vc`,
			`testdata/bad/runtime.yaml:19:5: service api: cpuset "0-a" is not a list of CPUs; write numbers and ranges like 0-3 or 0,2`,
			`testdata/bad/runtime.yaml:20:5: service api: uts "private" is not supported by Haven; write ` + "`uts: host`" + ` or remove it`,
			`testdata/bad/runtime.yaml:21:5: service api: userns_mode "ns:1" is not supported by Haven; write ` + "`userns_mode: host`" + ` or remove it (the Engine's own user-namespace setting applies)`,
			`testdata/bad/runtime.yaml:22:5: service api: cpu_period 10 must be from 1000 to 1000000 microseconds (1ms to 1s); 100000 is the default`,
			`testdata/bad/runtime.yaml:23:5: service api: cpu_quota 5 must be at least 1000 microseconds (1ms), or -1 for no limit`,
		}, "\n")},
		{"runtime-name-replicas.yaml", `testdata/bad/runtime-name-replicas.yaml:4:5: services.api: can't set container_name and deploy.replicas as container name must be unique; remove container_name (other services reach every replica by the service name "api") or run one replica`},
		{"runtime-memswap.yaml", "testdata/bad/runtime-memswap.yaml:2:3: service api: memswap_limit 134217728 needs a memory limit (mem_limit or deploy.resources.limits.memory) no larger than it: memswap_limit is memory plus swap; set one, or write memswap_limit: -1 for unlimited swap"},
		{"runtime-shm.yaml", `testdata/bad/runtime-shm.yaml:4:5: service api: shm_size: invalid size: 'lots'; write a size like 64m (a number of bytes, or with b, k, m or g)`},
		{"runtime-ulimit-value.yaml", "testdata/bad/runtime-ulimit-value.yaml:5:7: service api: ulimits.nofile: failed to cast to expected type: strconv.Atoi: parsing \"many\": invalid syntax; write `nofile: 65535` (soft and hard alike) or `nofile: {soft: 1024, hard: 65535}`"},
		{"runtime-cpus.yaml", `testdata/bad/runtime-cpus.yaml:4:5: service api: cpus: failed to cast to expected type: strconv.ParseFloat: parsing "half": invalid syntax; write a number of cores like 0.5 or 2`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(context.Background(), Options{Files: []string{filepath.Join("testdata/bad", tt.file)}, Environment: env})
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

// TestWarnings: logging is accepted and said, at its line, to change
// nothing, among the loader's other warnings.
func TestWarnings(t *testing.T) {
	r, err := LoadResult(context.Background(), Options{Files: []string{"testdata/runtime/compose.yaml"}, Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	want := "service api: logging driver \"syslog\" is not used: Haven keeps every instance's output itself (read it with `haven logs`); remove `logging:` to silence this"
	var got []string
	for _, w := range r.Warnings {
		got = append(got, w.Error())
	}
	if !slices.ContainsFunc(got, func(w string) bool {
		return strings.HasPrefix(w, "testdata/runtime/compose.yaml:") && strings.HasSuffix(w, ": "+want)
	}) {
		t.Errorf("Warnings = %q, want one \"testdata/runtime/compose.yaml:LINE:COL: %s\"", got, want)
	}
}
