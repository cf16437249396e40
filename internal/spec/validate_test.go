package spec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	base := func() App {
		return App{Name: "shop", Services: []Service{
			{Name: "web", Image: "web:1", Replicas: 2, Restart: RestartAlways, Routes: []Route{{PathPrefix: "/", Port: 8080}}},
			{Name: "db", Image: "db:1", Replicas: 1, Restart: RestartAlways},
		}}
	}
	cases := []struct {
		name   string
		change func(*App)
		want   string // "" = valid
	}{
		{"valid", func(*App) {}, ""},
		{"bad app name", func(a *App) { a.Name = "Shop_1" }, "lowercase DNS label"},
		{"unknown dependency", func(a *App) { a.Services[0].DependsOn = []Dependency{{Service: "cache"}} }, `depends_on names "cache"`},
		{"cycle", func(a *App) {
			a.Services[0].DependsOn = []Dependency{{Service: "db"}}
			a.Services[1].DependsOn = []Dependency{{Service: "web"}}
		}, "dependency cycle: db -> web -> db"},
		{"route port", func(a *App) { a.Services[0].Routes[0].Port = 70000 }, "not a valid port"},
		{"route conflict", func(a *App) { a.Services[1].Routes = []Route{{PathPrefix: "/", Port: 5432}} }, "same host and path"},
		{"published port with replicas", func(a *App) { a.Services[0].Ports = []PortMapping{{Published: 80, Target: 8080}} }, "only one instance can hold a host port"},
		{"host network with replicas", func(a *App) { a.Services[0].NetworkMode = NetworkHost }, "network_mode host with 2 replicas"},
		{"host network single", func(a *App) { a.Services[1].NetworkMode = NetworkHost }, ""},
		{"unknown network mode", func(a *App) { a.Services[1].NetworkMode = "service:web" }, "must be host or none"},
		{"no network with routes", func(a *App) { a.Services[0].Replicas = 1; a.Services[0].NetworkMode = NetworkNone }, "could never be served"},
		{"pinned address with replicas", func(a *App) { a.Services[0].IPv4Address = "10.0.0.5" }, "only one instance can hold an address"},
		{"pinned address not an IP", func(a *App) { a.Services[1].IPv4Address = "10.0.0" }, "not an IP address"},
		{"anonymous volume", func(a *App) { a.Services[1].Volumes = []Mount{{Type: MountVolume, Target: "/cache"}} }, ""},
		{"bad propagation", func(a *App) {
			a.Services[1].Volumes = []Mount{{Type: MountBind, Source: "/x", Target: "/x", Propagation: "sideways"}}
		}, "propagation"},
		{"bad subnet", func(a *App) { a.Network = &Network{Subnets: []Subnet{{Subnet: "10.0.0.0"}}} }, "not a CIDR subnet"},
		{"release strategy", func(a *App) { a.Services[0].Release = &ReleasePolicy{Strategy: "big-bang"} }, "must be rolling, blue-green or canary"},
		{"canary weights", func(a *App) {
			a.Services[0].Release = &ReleasePolicy{Strategy: StrategyCanary, Steps: []CanaryStep{{Weight: 50}, {Weight: 20}}}
		}, "step 2 weight 20"},
		{"error rate", func(a *App) {
			a.Services[0].Release = &ReleasePolicy{Strategy: StrategyCanary, Analysis: Analysis{MaxErrorRate: 3}}
		}, "max_error_rate"},
		{"published port cannot surge", func(a *App) {
			a.Services[1].Ports = []PortMapping{{Published: 5432, Target: 5432, Protocol: "tcp"}}
			a.Services[1].Release = &ReleasePolicy{Strategy: StrategyBlueGreen}
		}, "cannot start beside the old one"},
		{"route host with a port", func(a *App) { a.Services[0].Routes[0].Host = "PROD.LOCALHOST:80" }, `must not include a port`},
		{"route host with a scheme", func(a *App) { a.Services[0].Routes[0].Host = "https://shop.test" }, `must not include a scheme`},
		{"route host with a path", func(a *App) { a.Services[0].Routes[0].Host = "shop.test/api" }, `must not include a path`},
		{"route host not a DNS name", func(a *App) { a.Services[0].Routes[0].Host = "shop_1.test" }, `has the label "shop_1"`},
		{"route host unicode", func(a *App) { a.Services[0].Routes[0].Host = "café.test" }, `punycode`},
		{"route host punycode is fine", func(a *App) { a.Services[0].Routes[0].Host = "xn--caf-dma.test" }, ""},
		{"route host trailing dot and case are fine", func(a *App) { a.Services[0].Routes[0].Host = "Shop.Test." }, ""},
		{"route host empty label", func(a *App) { a.Services[0].Routes[0].Host = "shop..test" }, `empty label`},
		{"route host too long", func(a *App) { a.Services[0].Routes[0].Host = strings.Repeat("a.", 127) + "test" }, `at most 253`},
		{"route host ESC", func(a *App) { a.Services[0].Routes[0].Host = "shop\x1b[31m.test" }, `control character`},
		{"route path ESC", func(a *App) { a.Services[0].Routes[0].PathPrefix = "/api\x1b[2J" }, `control character`},
		{"route path CR", func(a *App) { a.Services[0].Routes[0].PathPrefix = "/api\r" }, `control character`},
		{"route path relative", func(a *App) { a.Services[0].Routes[0].PathPrefix = "api" }, `must start with /`},
		{"route path dot-dot", func(a *App) { a.Services[0].Routes[0].PathPrefix = "/public/../admin" }, `".." segment`},
		{"route path double slash", func(a *App) { a.Services[0].Routes[0].PathPrefix = "/a//b" }, `empty segment`},
		{"route path query", func(a *App) { a.Services[0].Routes[0].PathPrefix = "/a?b=1" }, `without query`},
		{"route path trailing slash is fine", func(a *App) { a.Services[0].Routes[0].PathPrefix = "/api/" }, ""},
		{"route conflict after canonical form", func(a *App) {
			a.Services[0].Routes = []Route{{Host: "shop.test", PathPrefix: "/api", Port: 8080}}
			a.Services[1].Routes = []Route{{Host: "SHOP.test.", PathPrefix: "/api/", Port: 5432}}
		}, "same host and path"},
		{"label with ESC", func(a *App) { a.Services[0].Labels = map[string]string{"team": "\x1b]0;owned\a"} }, "control character"},
		{"secret target with CR", func(a *App) {
			a.Secrets = map[string]Secret{"db": {Name: "db", External: true}}
			a.Services[0].Secrets = []SecretRef{{Source: "db", Target: "pw\r"}}
		}, "secret target"},
		{"secret name with ESC", func(a *App) { a.Secrets = map[string]Secret{"d\x1bb": {External: true}} }, "secret name"},
		{"alert rule checked", func(a *App) {
			a.Services[0].Alerts = []AlertRule{{Name: "x", Metric: "cpu_cores", Op: "=", Severity: "info"}}
		}, `alert 1: op "="`},
		{"alert label with CSI", func(a *App) {
			a.Services[0].Alerts = []AlertRule{{Name: "x", Metric: "cpu_cores", Op: ">", Severity: "info", Labels: map[string]string{"team": "\u009b2J"}}}
		}, "control character"},
		{"too many replicas", func(a *App) { a.Services[0].Replicas = MaxReplicas + 1 }, "the most one service may run"},
		{"replicas at the limit", func(a *App) { a.Services[0].Replicas = MaxReplicas }, ""},
		{"too many services", func(a *App) {
			for i := len(a.Services); i <= MaxServices; i++ {
				a.Services = append(a.Services, Service{Name: fmt.Sprintf("s%d", i), Command: []string{"sleep"}, Restart: RestartAlways})
			}
		}, fmt.Sprintf("an app may have at most %d", MaxServices)},
		{"too many instances", func(a *App) {
			for i := 0; i*MaxReplicas <= MaxInstances; i++ {
				a.Services = append(a.Services, Service{Name: fmt.Sprintf("s%d", i), Command: []string{"sleep"}, Replicas: MaxReplicas, Restart: RestartAlways})
			}
		}, fmt.Sprintf("may run at most %d", MaxInstances)},
		{"too many routes", func(a *App) {
			for i := 0; i <= MaxRoutes; i++ {
				a.Services[1].Routes = append(a.Services[1].Routes, Route{Host: "db.test", PathPrefix: fmt.Sprintf("/r%d", i), Port: 5432})
			}
		}, fmt.Sprintf("at most %d", MaxRoutes)},
		{"published port stop-first is fine", func(a *App) {
			a.Services[1].Ports = []PortMapping{{Published: 5432, Target: 5432, Protocol: "tcp"}}
			a.Services[1].Release = &ReleasePolicy{Strategy: StrategyRolling, MaxUnavailable: 1}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			tc.change(&a)
			err := a.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			case err != nil && !errors.Is(err, ErrInvalid):
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestRevisionIgnoresReplicasRoutesAndPolicy(t *testing.T) {
	s := Service{Name: "web", Image: "web:1", Replicas: 1, Restart: RestartAlways}
	same := s
	same.Replicas, same.Routes, same.Release = 9, []Route{{PathPrefix: "/", Port: 1}}, &ReleasePolicy{Strategy: StrategyCanary}
	if s.Revision() != same.Revision() {
		t.Error("replicas, routes or the release policy changed the revision")
	}
	other := s
	other.Env = map[string]string{"VERSION": "2"}
	if s.Revision() == other.Revision() {
		t.Error("a changed environment kept the revision")
	}
}

func TestCanonicalForms(t *testing.T) {
	hosts := map[string]string{
		"":                        "",
		"prod.localhost":          "prod.localhost",
		"prod.localhost.":         "prod.localhost",
		"PROD.LOCALHOST:80":       "prod.localhost",
		"API.example.com.:8080":   "api.example.com",
		"[::1]:8080":              "[::1]",
		"xn--caf-dma.example.com": "xn--caf-dma.example.com",
	}
	for in, want := range hosts {
		if got := CanonicalHost(in); got != want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
	paths := map[string]string{"": "/", "/": "/", "//": "/", "api": "/api", "/api/": "/api", "/api": "/api", "/a/b/": "/a/b"}
	for in, want := range paths {
		if got := CanonicalPath(in); got != want {
			t.Errorf("CanonicalPath(%q) = %q, want %q", in, got, want)
		}
	}
	// Every way of writing prod's route is one claim.
	prod := Route{Host: "prod.localhost", PathPrefix: "/api"}
	for _, r := range []Route{
		{Host: "prod.localhost.", PathPrefix: "/api"},
		{Host: "PROD.LOCALHOST:80", PathPrefix: "/api"},
		{Host: "Prod.Localhost", PathPrefix: "/api/"},
	} {
		if r.Key() != prod.Key() {
			t.Errorf("%+v has key %q, prod's is %q", r, r.Key(), prod.Key())
		}
		if c := r.Canonical(); c.Host != "prod.localhost" || c.PathPrefix != "/api" {
			t.Errorf("%+v canonical = %+v", r, c)
		}
	}
}

func TestRouteCovers(t *testing.T) {
	r := func(host, path string) Route { return Route{Host: host, PathPrefix: path} }
	cases := []struct {
		a, b Route
		want bool
	}{
		{r("a.test", "/"), r("a.test", "/api"), true},
		{r("a.test", "/api"), r("A.TEST", "/api/v1"), true},
		{r("a.test", "/api"), r("a.test", "/apix"), false},
		{r("a.test", "/api"), r("b.test", "/api"), false},
		{r("", "/"), r("", "/health"), true},
		{r("", "/a"), r("a.test", "/a"), false},
	}
	for _, tc := range cases {
		if got := tc.a.Covers(tc.b); got != tc.want {
			t.Errorf("%v covers %v = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Covers(tc.a); got != tc.want {
			t.Errorf("%v covers %v = %v, want %v (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, s := range []string{`\x1b[31m`, "web", "café", "shop.test/api"} {
		if !Printable(s) {
			t.Errorf("Printable(%q) = false", s)
		}
	}
	for _, s := range []string{"\x1b[31m", "a\rb", "\u009b31m", "a\x7f", "\xff", "a\nb", "a\tb"} {
		if Printable(s) {
			t.Errorf("Printable(%q) = true", s)
		}
	}
}
