package proxy

import (
	"testing"

	"github.com/haven-platform/haven/internal/spec"
)

func TestTableMatch(t *testing.T) {
	api := &backend{name: "api"}
	web := &backend{name: "web"}
	admin := &backend{name: "admin"}
	fallback := &backend{name: "fallback"}
	tab, conflicts := newTable(
		[]*backend{api, web, admin, fallback},
		[][]spec.Route{
			{{Host: "shop.example.com", PathPrefix: "/api/", StripPrefix: true}},
			{{Host: "Shop.Example.com", PathPrefix: "/"}},
			{{Host: "shop.example.com", PathPrefix: "/api/admin"}},
			{{PathPrefix: ""}, {PathPrefix: "/status"}, {Host: "shop.example.com", PathPrefix: "/"}},
		}, nil)
	if len(conflicts) != 1 {
		t.Fatalf("conflicts = %q, want the duplicate shop.example.com/", conflicts)
	}
	tests := []struct {
		host, path string
		want       string // backend name, "" for no match
		strip      bool
	}{
		{"shop.example.com", "/api", "api", true},
		{"shop.example.com", "/api/orders", "api", true},
		{"shop.example.com", "/apix", "web", false},          // segment boundary
		{"shop.example.com", "/api/admin/x", "admin", false}, // longest prefix
		{"shop.example.com", "/api/administrator", "api", true},
		{"shop.example.com", "/status", "web", false}, // the host's own routes win
		{"other.example.com", "/status/x", "fallback", false},
		{"other.example.com", "/", "fallback", false},
	}
	for _, tt := range tests {
		r, ok := tab.match(tt.host, tt.path)
		got := ""
		if ok {
			got = r.backend.name
		}
		if got != tt.want || (ok && r.strip != tt.strip) {
			t.Errorf("match(%q, %q) = %q strip=%v, want %q strip=%v", tt.host, tt.path, got, r.strip, tt.want, tt.strip)
		}
	}

	empty, _ := newTable([]*backend{api}, [][]spec.Route{{{Host: "a.example", PathPrefix: "/a"}}}, nil)
	if _, ok := empty.match("a.example", "/b"); ok {
		t.Error("a.example/b matched a route on /a")
	}
}

func TestPathHelpers(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "/"}, {"/", "/"}, {"/a/b", "/a/b"}, {"/a//b", "/a/b"}, {"/public/../admin", "/admin"},
		{"/a/./b/", "/a/b/"}, {"/..", "/"}, {"/.well-known/x", "/.well-known/x"}, {"*", "*"},
	} {
		if got := cleanPath(tt.in); got != tt.want {
			t.Errorf("cleanPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"Example.COM:8080", "example.com"}, {"example.com.", "example.com"}, {"[::1]:80", "[::1]"}, {"[::1]", "[::1]"}, {"", ""},
	} {
		if got := canonicalHost(tt.in); got != tt.want {
			t.Errorf("canonicalHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ path, prefix, want string }{
		{"/api", "/api", "/"}, {"/api/x", "/api", "/x"}, {"/x", "/", "/x"},
	} {
		if got := stripPrefix(tt.path, tt.prefix); got != tt.want {
			t.Errorf("stripPrefix(%q, %q) = %q, want %q", tt.path, tt.prefix, got, tt.want)
		}
	}
	for in, want := range map[string]string{"": "/", "api": "/api", "/api/": "/api", "//": "/"} {
		if got := normalizePrefix(in); got != want {
			t.Errorf("normalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTargetStateString(t *testing.T) {
	for s, want := range map[TargetState]string{TargetHealthy: "healthy", TargetEjected: "ejected", TargetDraining: "draining", 9: "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s.String(), want)
		}
	}
}

// TestHostNeverFallsBackToAnotherOwner: prod routes only /api on its host;
// a request for another path on that host must not reach dev's catch-all
// (it would carry prod's cookies), while prod's own catch-all still gets it
// and hosts nobody routes still fall back to any owner's.
func TestHostNeverFallsBackToAnotherOwner(t *testing.T) {
	prodAPI := &backend{name: "shop/prod/api", owner: "shop/prod"}
	devAll := &backend{name: "aaa/dev/web", owner: "aaa/dev"}
	tab, conflicts := newTable([]*backend{prodAPI, devAll}, [][]spec.Route{
		{{Host: "prod.localhost", PathPrefix: "/api"}},
		{{PathPrefix: "/"}},
	}, nil)
	if len(conflicts) != 0 {
		t.Fatal(conflicts)
	}
	if r, ok := tab.match("prod.localhost", "/login"); ok {
		t.Errorf("prod.localhost/login went to %s, want no route: the host is shop/prod's", r.backend.name)
	}
	if r, ok := tab.match("prod.localhost", "/api/x"); !ok || r.backend != prodAPI {
		t.Errorf("prod.localhost/api/x: %v %v, want shop/prod/api", r.backend, ok)
	}
	if r, ok := tab.match("unclaimed.localhost", "/login"); !ok || r.backend != devAll {
		t.Errorf("a host nobody routes: %v %v, want the any-host route", r.backend, ok)
	}

	prodWeb := &backend{name: "shop/prod/web", owner: "shop/prod"}
	tab, _ = newTable([]*backend{prodAPI, devAll, prodWeb}, [][]spec.Route{
		{{Host: "prod.localhost", PathPrefix: "/api"}},
		{{PathPrefix: "/other"}},
		{{PathPrefix: "/"}},
	}, nil)
	if r, ok := tab.match("prod.localhost", "/login"); !ok || r.backend != prodWeb {
		t.Errorf("prod.localhost/login with prod's own catch-all: %v %v, want shop/prod/web", r.backend, ok)
	}
	if r, ok := tab.match("prod.localhost", "/other"); !ok || r.backend != prodWeb {
		t.Errorf("prod.localhost/other: %v %v, want prod's catch-all, not dev's longer any-host prefix", r.backend, ok)
	}
}
