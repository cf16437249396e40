package compose

import (
	"github.com/haven-platform/haven/internal/golden"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/spec"
)

// env is the interpolation environment of every test: fixed, so the
// developer's shell never changes a result.
var env = map[string]string{"HOME": "/home/test", "BAD_PORT": "99999", "APP_CONF": "mode=env",
	// Haven's credentials are in the deployer's environment; no test may
	// find them in an App.
	"HAVEN_TOKEN": "hvt_ci-token", "HAVEN_MASTER_KEY": "master-key", "HAVEN_MASTER_KEY_NEXT": "next-key"}

// golden compares got with testdata/name, or rewrites it with -update.
// Absolute paths under testdata are written as $TESTDATA so the files do not
// depend on where the repository is checked out.
func checkApp(t *testing.T, name string, app *spec.App) {
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
	golden.Check(t, path, got)
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
			checkApp(t, tt.golden, app)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		files    []string // under testdata/bad, merged in order
		profiles []string
		want     string
	}{
		{[]string{"volume-options.yaml"}, nil,
			"testdata/bad/volume-options.yaml:9:11: service api: key `volumes.volume.subpath` is not supported by Haven yet; remove it (it needs Docker Engine API 1.45 (Docker 26) and Haven speaks 1.41; mount the volume and point the program at the directory inside it)\ntestdata/bad/volume-options.yaml:14:11: service api: key `volumes.bind.recursive` is not supported by Haven yet; remove it (bind mounts are made as the engine makes them (recursive, and read-only recursively where the kernel allows))\ntestdata/bad/volume-options.yaml:15:15: service api: `volumes.type: npipe` is not supported by Haven yet; Haven mounts volumes and bind mounts; for a tmpfs use the service's `tmpfs:` key"},
		{[]string{"network-host-replicas.yaml"}, nil,
			"testdata/bad/network-host-replicas.yaml:4:5: service api: network_mode host with 3 replicas: every instance would listen on the same host ports; use replicas: 1, or drop network_mode and route through the ingress (x-haven.routes)\ntestdata/bad/network-host-replicas.yaml:13:9: service db: a fixed ipv4_address/ipv6_address with 2 replicas: only one instance can hold an address; use replicas: 1, or drop the address and reach the service by name"},
		{[]string{"network-host-ports.yaml"}, nil,
			"testdata/bad/network-host-ports.yaml:6:9: service edge: port 8080:80 cannot be published on the host's network, where the instance listens on the machine's own ports: make the program listen on 8080, or drop network_mode\ntestdata/bad/network-host-ports.yaml:9:5: service db: ipv4_address 10.99.0.5 needs a subnet of the app's network that holds it: add `ipam: {config: [{subnet: ...}]}` with such a subnet to the network under top-level `networks:`"},
		{[]string{"network-mode.yaml"}, nil,
			"testdata/bad/network-mode.yaml:6:5: service sidecar: network_mode \"service:api\" is not supported: Haven replaces the instances of each service on its own, so a network namespace borrowed from another one would vanish at its next release; run both processes in one service, or let them talk by name on the app's network\ntestdata/bad/network-mode.yaml:9:5: service pinned: ipv4_address 10.5.0.5 needs a subnet of the app's network that holds it: add `ipam: {config: [{subnet: ...}]}` with such a subnet to the network under top-level `networks:`"},
		{[]string{"networks-options.yaml"}, nil,
			"testdata/bad/networks-options.yaml:6:3: network front: sets options, and so does network back; Haven puts every service of the app on one network, so only one of them may set driver_opts, ipam, internal, enable_ipv6, attachable or labels"},
		{[]string{"deploy-keys.yaml"}, nil,
			"testdata/bad/deploy-keys.yaml:6:9: service api: deploy.update_config.failure_action pause is not supported: Haven rolls a failed release back, so a service is never left half on the new revision; use rollback or remove it\ntestdata/bad/deploy-keys.yaml:8:9: service api: deploy.restart_policy.condition \"sometimes\" is not a condition; use none, on-failure or any\ntestdata/bad/deploy-keys.yaml:12:7: service web: deploy.update_config and x-haven.release both say how to release; keep one of them"},
		{[]string{"configs.yaml"}, nil,
			"testdata/bad/configs.yaml:6:9: service api: config inline: uid \"nobody\" is not a number; Haven writes the file with numeric ids\ntestdata/bad/configs.yaml:12:5: config env: variable UNSET_APP_CONF is not set; set it, or give the config `file:` or `content:`"},
		{[]string{"configs-external.yaml"}, nil,
			"testdata/bad/configs-external.yaml:7:5: config shared: key `external` is not supported by Haven yet; remove it (Haven has no config store; write the value to a file and use `file:`, or use `content:`)"},
		{[]string{"service-names.yaml"}, nil,
			"testdata/bad/service-names.yaml:2:3: service my_api: is named my-api under Haven (service names are DNS labels), as service my-api is; rename one of them"},
		// Keys in included and extended files are checked where they are
		// written; the services an extended file holds but nobody extends
		// are not loaded, so not checked.
		{[]string{"include-extends.yaml"}, nil,
			"testdata/bad/include/base.yaml:5:7: service base: key `deploy.placement` is not supported by Haven yet; remove it (placement comes with multi-node; on one machine every instance runs there)\ntestdata/bad/include/part.yaml:4:5: service worker: key `external_links` is not supported by Haven yet; remove it (Haven starts no container outside the app; run it as a service of the app, or reach it by its host address)"},
		{[]string{"network-external.yaml"}, nil,
			"testdata/bad/network-external.yaml:5:7: service api: network outside is external, and Haven pins addresses on the app's own network only; move ipv4_address/ipv6_address to a network Haven creates"},
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
		{[]string{"release-ports.yaml"}, nil,
			"testdata/bad/release-ports.yaml:6:17: service db: publishes host port 5432 (`ports:` at testdata/bad/release-ports.yaml:4:13), so a new instance cannot start beside the old one, but a blue-green release starts the new set before it stops the old one: use `x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}` (stop first, then start) or route it through the ingress (x-haven.routes) instead of `ports:`\ntestdata/bad/release-ports.yaml:13:9: service cache: publishes host port 6379 (`ports:` at testdata/bad/release-ports.yaml:10:9), so a new instance cannot start beside the old one, but a canary release runs both side by side: use `x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}` (stop first, then start) or route it through the ingress (x-haven.routes) instead of `ports:`\ntestdata/bad/release-ports.yaml:21:9: service mq: publishes host port 15672 (`ports:` at testdata/bad/release-ports.yaml:17:9), so a new instance cannot start beside the old one, but max_surge: 2 starts new instances first: use `x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}` (stop first, then start) or route it through the ingress (x-haven.routes) instead of `ports:`\ntestdata/bad/release-ports.yaml:27:7: service search: publishes host port 9200 (`ports:` at testdata/bad/release-ports.yaml:25:13), so a new instance cannot start beside the old one, but a rolling release starts one first by default (max_surge: 1): use `x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}` (stop first, then start) or route it through the ingress (x-haven.routes) instead of `ports:`"},
		{[]string{"release-strategy-keys.yaml"}, nil,
			"testdata/bad/release-strategy-keys.yaml:6:9: service api: x-haven.release.steps: belongs to strategy canary, but this release is rolling (the default); remove it or set `strategy: canary`\ntestdata/bad/release-strategy-keys.yaml:7:9: service api: x-haven.release.bake_time: belongs to strategy blue-green, but this release is rolling (the default); remove it or set `strategy: blue-green`\ntestdata/bad/release-strategy-keys.yaml:13:9: service web: x-haven.release.max_surge: belongs to strategy rolling, but this release is blue-green; remove it or set `strategy: rolling`\ntestdata/bad/release-strategy-keys.yaml:14:9: service web: x-haven.release.analysis: belongs to strategy canary, but this release is blue-green; remove it or set `strategy: canary`"},
		{[]string{"release-top.yaml"}, nil,
			"testdata/bad/release-top.yaml:2:3: key `release` belongs in a service's x-haven, not the top-level one, which has no keys yet; move it to services.NAME.x-haven.release"},
		{[]string{"alerts.yaml"}, nil,
			"testdata/bad/alerts.yaml:6:11: service api: x-haven.alerts.0: metric \"cpu_core\" is not one Haven measures; use one of cpu_cores, cpu_limit_ratio, disk_ratio, memory_bytes, memory_limit_ratio, restarts_10m\ntestdata/bad/alerts.yaml:7:60: service api: x-haven.alerts.1.for: soon is not a duration (e.g. 5m)"},
		{[]string{"release-unknown.yaml"}, nil,
			"testdata/bad/release-unknown.yaml:7:9: service api: unknown key `stpes` in x-haven.release (known keys: `analysis`, `bake_time`, `drain_timeout`, `max_surge`, `max_unavailable`, `migrate`, `steps`, `strategy`); fix its spelling or remove it\ntestdata/bad/release-unknown.yaml:9:26: service api: unknown key `wait` in x-haven.release.steps (known keys: `pause`, `weight`); fix its spelling or remove it\ntestdata/bad/release-unknown.yaml:11:11: service api: unknown key `max_errors` in x-haven.release.analysis (known keys: `max_error_rate`, `max_p95_ratio`, `min_p95`, `min_requests`); fix its spelling or remove it"},
		{[]string{"release-values.yaml"}, nil,
			"testdata/bad/release-values.yaml:6:9: service a: x-haven.release.strategy: \"bluegreen\" is not a release strategy; use rolling, blue-green or canary\ntestdata/bad/release-values.yaml:11:9: service b: x-haven.release.max_surge: -1 must be 0 or more\ntestdata/bad/release-values.yaml:12:9: service b: x-haven.release.max_unavailable: must be a whole number, not \"many\"\ntestdata/bad/release-values.yaml:13:9: service b: x-haven.release.drain_timeout: must be more than 0s (leave it out for the default, 30s)\ntestdata/bad/release-values.yaml:18:9: service c: x-haven.release.max_surge: 0 with max_unavailable 0 (the default) leaves nothing that could move: no new instance may start beside the old ones and none of them may stop first; set max_surge: 1 (start new instances first) or max_unavailable: 1 (stop old ones first)\ntestdata/bad/release-values.yaml:22:36: service d: x-haven.release.max_surge: 0 with max_unavailable 0 leaves nothing that could move: no new instance may start beside the old ones and none of them may stop first; set max_surge: 1 (start new instances first) or max_unavailable: 1 (stop old ones first)\ntestdata/bad/release-values.yaml:30:14: service e: x-haven.release.steps.1.weight: 50 must be more than the step before's 50: weights only grow\ntestdata/bad/release-values.yaml:30:26: service e: x-haven.release.steps.1.pause: -1s must not be negative\ntestdata/bad/release-values.yaml:31:14: service e: x-haven.release.steps.2.weight: 101 must be a percent from 1 to 100\ntestdata/bad/release-values.yaml:32:13: service e: x-haven.release.steps.3: a step needs `weight:`, the percent of requests sent to the new revision (1-100)\ntestdata/bad/release-values.yaml:33:13: service e: x-haven.release.steps.4: a step must be a mapping like `{weight: 10, pause: 30s}`, not 30\ntestdata/bad/release-values.yaml:35:11: service e: x-haven.release.analysis.max_error_rate: 0 must be more than 0 and at most 1 (a share of requests: 0.05 is 5%)\ntestdata/bad/release-values.yaml:36:11: service e: x-haven.release.analysis.max_p95_ratio: 0.5 must be 1 or more (how many times the baseline's p95 latency the canary may reach)\ntestdata/bad/release-values.yaml:37:11: service e: x-haven.release.analysis.min_p95: must be a duration like 1s, 500ms or 1m30s, not \"fast\"\ntestdata/bad/release-values.yaml:38:11: service e: x-haven.release.analysis.min_requests: 0 must be 1 or more\ntestdata/bad/release-values.yaml:44:9: service f: x-haven.release.bake_time: must be more than 0s (leave it out for the default, 30s)\ntestdata/bad/release-values.yaml:45:9: service f: x-haven.release.migrate: is empty; give the command to run, e.g. [\"/app\", \"migrate\"], or remove the key\ntestdata/bad/release-values.yaml:50:9: service g: x-haven.release.migrate: \"./migrate up && ./seed\" uses the shell operator \"&&\", but no shell is run; write [\"sh\", \"-c\", \"./migrate up && ./seed\"] if a shell is what you need\ntestdata/bad/release-values.yaml:55:9: service h: x-haven.release.migrate: \"./migrate 'up\" cannot be split into words (invalid command line string); check its quotes, or write it as a list\ntestdata/bad/release-values.yaml:59:7: service i: x-haven.release: must be a mapping like `{strategy: rolling, max_surge: 1}`, not \"canary\"\ntestdata/bad/release-values.yaml:65:9: service j: x-haven.release.steps: must be a list of steps like `- {weight: 10, pause: 30s}`, not 10\ntestdata/bad/release-values.yaml:66:20: service j: x-haven.release.analysis.max_error_rate: must be a number, not \"5%\"\ntestdata/bad/release-values.yaml:67:25: service j: x-haven.release.migrate.1: must be a string, not 1; quote it"},
		{[]string{"route-limits.yaml"}, nil,
			"testdata/bad/route-limits.yaml:8:13: service api: x-haven.routes.0.limits.max_body: \"10q\" is not a size; write bytes (1048576) or a number with k, m or g (10m is 10 MiB)\ntestdata/bad/route-limits.yaml:9:13: service api: x-haven.routes.0.limits.body_timeout: must be more than 0s (leave it out for the default, 30s)\ntestdata/bad/route-limits.yaml:10:13: service api: x-haven.routes.0.limits.max_conns_per_client: 0 must be 1 or more (leave it out for the default, 128)\ntestdata/bad/route-limits.yaml:13:20: service api: x-haven.routes.1.limits.max_body: 0 must be at least 1 byte (leave it out for the default, 64m)\ntestdata/bad/route-limits.yaml:13:33: service api: x-haven.routes.1.limits.body_timeout: must be a duration like 1s, 500ms or 1m30s, not \"soon\"\ntestdata/bad/route-limits.yaml:13:53: service api: x-haven.routes.1.limits.max_conns_per_client: must be a whole number, not \"many\"\ntestdata/bad/route-limits.yaml:16:11: service api: x-haven.routes.2.limits: must be a mapping like `{max_body: 10m, body_timeout: 10s, max_conns_per_client: 32}`, not \"10m\""},
		{[]string{"route-limits-unknown.yaml"}, nil,
			"testdata/bad/route-limits-unknown.yaml:7:20: service api: unknown key `max_bdy` in x-haven.routes.limits (known keys: `body_timeout`, `max_body`, `max_conns_per_client`); fix its spelling or remove it"},
		{[]string{"route-conflict.yaml"}, nil,
			"testdata/bad/route-conflict.yaml:14:11: service legacy: route shop.localhost/api -> :9000 claims the same host and path as service api; give one of them another host or path"},
		{[]string{"schema.yaml"}, nil,
			"testdata/bad/schema.yaml:7:5: `services.api.environment` must be a mapping; see https://docs.docker.com/reference/compose-file/"},
		{[]string{"secret-env.yaml"}, nil,
			"testdata/bad/secret-env.yaml:7:5: secret token: key `environment` is not supported by Haven yet; remove it (the value would be stored in the deployment record; keep it in a file (`file:`) or in Haven's secret store (`external: true`, then `haven secret set`))"},
		{[]string{"undeclared.yaml"}, nil,
			"testdata/bad/undeclared.yaml:6:16: service api: uses network \"front\", which is not declared under top-level `networks:`; declare it there or fix the name"},
		{[]string{"unknown-dependency.yaml"}, nil,
			"testdata/bad/unknown-dependency.yaml:6:9: service api: depends_on names \"db\", which is not a service of this app (or is only in an inactive profile); fix the name, add the service or enable its profile"},
		{[]string{"unsupported-profile.yaml"}, nil,
			""},
		{[]string{"unsupported.yaml"}, nil,
			"testdata/bad/unsupported.yaml:4:5: service api: key `cgroup_parent` is not supported by Haven yet; remove it (Haven keeps instances in the Engine's cgroup tree, where its limits apply; limit the service with deploy.resources.limits)\n" +
				"testdata/bad/unsupported.yaml:5:5: service api: key `mac_address` is not supported by Haven yet; remove it (the Engine picks each instance's MAC address, as two replicas must differ)\n" +
				"testdata/bad/unsupported.yaml:8:7: service api: key `deploy.placement` is not supported by Haven yet; remove it (placement comes with multi-node; on one machine every instance runs there)\n" +
				"testdata/bad/unsupported.yaml:14:15: service api: `volumes.type: tmpfs` is not supported by Haven yet; Haven mounts volumes and bind mounts; for a tmpfs use the service's `tmpfs:` key\n" +
				"testdata/bad/unsupported.yaml:16:5: service api: `imagee` is not a compose key; fix its spelling or remove it"},
		{[]string{"xhaven-unknown.yaml"}, nil,
			"testdata/bad/xhaven-unknown.yaml:2:3: unknown key `strategy` in x-haven, which has no keys yet; remove it\ntestdata/bad/xhaven-unknown.yaml:8:11: service api: unknown key `hots` in x-haven.routes (known keys: `host`, `limits`, `path`, `port`, `strip_prefix`); fix its spelling or remove it\ntestdata/bad/xhaven-unknown.yaml:13:9: service api: unknown key `intervall` in x-haven.healthcheck (known keys: `interval`, `path`, `port`, `retries`, `start_period`, `timeout`, `type`); fix its spelling or remove it\ntestdata/bad/xhaven-unknown.yaml:14:7: service api: unknown key `autoscale` in x-haven (known keys: `alerts`, `healthcheck`, `release`, `routes`); fix its spelling or remove it"},
		{[]string{"xhaven-values.yaml"}, nil,
			"testdata/bad/xhaven-values.yaml:6:11: service api: x-haven.routes.0.path: \"api\" must start with /\ntestdata/bad/xhaven-values.yaml:7:11: service api: x-haven.routes.0.port: must be a whole number, not \"abc\"\ntestdata/bad/xhaven-values.yaml:8:11: service api: x-haven.routes.1.host: \"shop.localhost:8080\" must not include a port: the ingress matches the host on whichever port it listens on; remove \":8080\"\ntestdata/bad/xhaven-values.yaml:8:11: service api: x-haven.routes.1: a route needs `port:`, the container port requests go to\ntestdata/bad/xhaven-values.yaml:10:9: service api: x-haven.healthcheck.type: \"grpc\" is not a check type; use http or tcp\ntestdata/bad/xhaven-values.yaml:11:9: service api: x-haven.healthcheck.port: 70000 is not a valid port (1-65535)\ntestdata/bad/xhaven-values.yaml:12:9: service api: x-haven.healthcheck.interval: must be a duration like 1s, 500ms or 1m30s, not \"soon\""},
		{[]string{"credential.yaml"}, nil,
			"testdata/bad/credential.yaml:6:14: `${HAVEN_TOKEN}` is Haven's credential and is never put into a deployment; pass the value as a secret (`haven secret set`)\ntestdata/bad/credential.yaml:7:12: `${HAVEN_MASTER_KEY}` is Haven's credential and is never put into a deployment; pass the value as a secret (`haven secret set`)\ntestdata/bad/credential.yaml:9:17: `${HAVEN_MASTER_KEY_NEXT}` is Haven's credential and is never put into a deployment; pass the value as a secret (`haven secret set`)"},
		{[]string{"credential-bare.yaml"}, nil,
			"testdata/bad/credential-bare.yaml:6:9: service api: `HAVEN_TOKEN` without a value would take Haven's credential from the deployer's environment; it is Haven's credential and is never put into a deployment; pass the value as a secret (`haven secret set`)"},
		{[]string{"route-values.yaml"}, nil,
			"testdata/bad/route-values.yaml:10:11: service api: x-haven.routes.0.path: \"/api\\x1b[31m\" contains the control character '\\x1b'; a route path is printable\ntestdata/bad/route-values.yaml:12:11: service api: x-haven.routes.1.host: \"PROD.LOCALHOST:80\" must not include a port: the ingress matches the host on whichever port it listens on; remove \":80\"\ntestdata/bad/route-values.yaml:15:11: service api: x-haven.routes.2.path: \"/public/../admin\" has a \"..\" segment; the ingress resolves those in request paths, so write the path it resolves to"},
		{[]string{"replicas-bound.yaml"}, nil,
			"testdata/bad/replicas-bound.yaml:2:1: app \"shop\" asks for 1000000 instances in all (the sum of its replicas); an app may run at most 500, so that one machine can hold them and status answers promptly; lower replicas\ntestdata/bad/replicas-bound.yaml:6:7: service api: replicas 1000000 is more than 100, the most one service may run on a Haven machine; lower replicas"},
		{[]string{"override-base.yaml", "override-bad.yaml"}, nil,
			"testdata/bad/override-bad.yaml:3:5: service api: key `cgroup_parent` is not supported by Haven yet; remove it (Haven keeps instances in the Engine's cgroup tree, where its limits apply; limit the service with deploy.resources.limits)"},
		{[]string{"override-base.yaml", "override-port.yaml"}, nil,
			// compose appends the override's routes; the item is placed on
			// the nearest key the override file spells out.
			"testdata/bad/override-port.yaml:4:7: service api: x-haven.routes.1.port: 0 is not a valid port (1-65535)"},
		{[]string{"unsupported-profile.yaml"}, []string{"debug"},
			"testdata/bad/unsupported-profile.yaml:7:5: service debug: key `cgroup_parent` is not supported by Haven yet; remove it (Haven keeps instances in the Engine's cgroup tree, where its limits apply; limit the service with deploy.resources.limits)"},
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

func TestReleaseCommand(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string // nil: refused
	}{
		{"/app migrate", []string{"/app", "migrate"}},
		{`sh -c 'a && b'`, []string{"sh", "-c", "a && b"}},
		{`./m --name "x y" it\'s`, []string{"./m", "--name", "x y", "it's"}},
		{"./m up; ./seed", nil},
		{"./m > log", nil},
		{"./m | tee", nil},
		{"./m `date`", nil},
		{"./m 'up", nil},
		{"   ", nil},
	} {
		m := &mapper{src: &sources{}}
		got, ok := xval{m: m, svc: "api", path: []string{"x-haven", "release", "migrate"}}.command(tt.in)
		switch {
		case tt.want == nil && (ok || len(m.errs) != 1):
			t.Errorf("command(%q) = %q, %v with %d problems; want it refused with one", tt.in, got, ok, len(m.errs))
		case tt.want != nil && (!ok || strings.Join(got, "\x00") != strings.Join(tt.want, "\x00")):
			t.Errorf("command(%q) = %q, %v (%v); want %q", tt.in, got, ok, m.errs.err(nil), tt.want)
		}
	}
}

// TestCredentialsNeverReachTheApp: with Haven's credentials in the
// process environment (as in CI) and in `.env`, no way of referring to
// them puts them into the App, and a file that does not refer to them
// loads as before.
func TestCredentialsNeverReachTheApp(t *testing.T) {
	t.Setenv("HAVEN_TOKEN", "hvt_from-ci")
	t.Setenv("HAVEN_MASTER_KEY", "master-from-ci")
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".env", "HAVEN_MASTER_KEY_NEXT=next-from-dotenv\nGREETING=hello\n")
	for _, ref := range []string{"${HAVEN_TOKEN}", "${HAVEN_TOKEN:-none}", "x$HAVEN_MASTER_KEY", "${HAVEN_MASTER_KEY_NEXT}", "${GREETING:-${HAVEN_TOKEN}}"} {
		write("compose.yaml", "name: ci\nservices:\n  api:\n    image: api:1\n    environment:\n      V: \""+ref+"\"\n")
		_, err := Load(context.Background(), Options{WorkingDir: dir})
		if err == nil || !strings.Contains(err.Error(), "compose.yaml:6:10: `${HAVEN_") || !strings.Contains(err.Error(), "haven secret set") {
			t.Errorf("%s: want a refusal at compose.yaml:6:10, got %v", ref, err)
		}
	}
	write("compose.yaml", "name: ci\nservices:\n  api:\n    image: api:1\n    environment:\n      V: \"${GREETING} $$HAVEN_TOKEN\"\n")
	app, err := Load(context.Background(), Options{WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(app)
	for _, secret := range []string{"hvt_from-ci", "master-from-ci", "next-from-dotenv"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the app holds a credential: %s", b)
		}
	}
	if v := app.Services[0].Env["V"]; v != "hello $HAVEN_TOKEN" {
		t.Errorf("V = %q, want the escaped dollar kept literally", v)
	}
}

// TestCredentialNamesMatchTheReaders: the names refused are the ones the
// CLI and the secret store read.
func TestCredentialNamesMatchTheReaders(t *testing.T) {
	for _, name := range []string{secrets.EnvMasterKey, secrets.EnvMasterKeyNext, "HAVEN_TOKEN"} {
		if !credentialVars[name] {
			t.Errorf("%s is a credential variable but is not refused", name)
		}
	}
}

// TestComposeFileSizeBound: a file over MaxFileBytes is refused before it
// is parsed.
func TestComposeFileSizeBound(t *testing.T) {
	p := filepath.Join(t.TempDir(), "compose.yaml")
	body := "name: big\nservices:\n  api:\n    image: api:1\n    labels:\n" + strings.Repeat("      k: v\n", MaxFileBytes/10)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), Options{Files: []string{p}, Environment: env})
	if err == nil || !strings.Contains(err.Error(), "larger than 1024 KiB") || !errors.Is(err, spec.ErrInvalid) {
		t.Fatalf("want the size bound, got %v", err)
	}
}

// TestKeysReachTheApp loads a file with every compose key Haven maps
// beyond the basics (docs/compose.md) and compares the App and the
// warnings with their golden files.
func TestKeysReachTheApp(t *testing.T) {
	r, err := LoadResult(context.Background(), Options{Files: []string{"testdata/keys/compose.yaml"}, Environment: env})
	if err != nil {
		t.Fatalf("LoadResult: %v", err)
	}
	checkApp(t, "keys.golden.json", r.App)
	var warns strings.Builder
	for _, w := range r.Warnings {
		warns.WriteString(w.Error() + "\n")
	}
	golden.Check(t, filepath.Join("testdata", "keys.warnings.golden"), []byte(warns.String()))
}
