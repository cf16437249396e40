package spec

import (
	"errors"
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
