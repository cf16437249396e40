package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/haven-platform/haven/internal/spec"
)

// TestRouter: an unrouted request is a 404, a backend without healthy
// targets a 503, both before the route's chain; a routed one goes to its
// route's chain with the route in the exchange.
func TestRouter(t *testing.T) {
	p := New(Config{})
	chains := map[string]*next{}
	build := func(sr spec.Route, be *backend) handler {
		n := &next{}
		chains[be.name+sr.PathPrefix] = n
		return n
	}
	up := &backend{name: "up", eligible: []member{{t: &target{id: "t"}}}}
	down := &backend{name: "down"}
	tab, _ := newTable([]*backend{up, down}, [][]spec.Route{
		{{Host: "shop.example", PathPrefix: "/api", StripPrefix: true}},
		{{Host: "shop.example", PathPrefix: "/down"}},
	}, build)
	p.table.Store(tab)

	serve := func(target string) (*exchange, error) {
		ex := &exchange{}
		return ex, (&router{p: p}).serve(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil), ex)
	}
	_, err := serve("http://shop.example/other")
	if rf := asRefusal(t, err, http.StatusNotFound); rf.close {
		t.Error("404 closes the connection")
	}
	_, err = serve("http://shop.example/down/x")
	asRefusal(t, err, http.StatusServiceUnavailable)
	if chains["down/down"].called {
		t.Error("the route without targets ran its chain")
	}
	ex, err := serve("http://SHOP.example:80/api//x")
	if err != nil || !chains["up/api"].called {
		t.Fatalf("routed request: err %v, its chain ran %v", err, chains["up/api"].called)
	}
	if ex.backend != up || ex.prefix != "/api" || ex.path != "/api/x" || ex.host != "shop.example" {
		t.Errorf("exchange: backend %s, prefix %q, path %q, host %q", ex.backend.name, ex.prefix, ex.path, ex.host)
	}
}
