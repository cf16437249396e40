package proxy

import (
	"path"
	"sort"
	"strings"

	"github.com/haven-platform/haven/internal/spec"
)

// route is one entry of the routing table: a path prefix (on a host, or on
// any host) leading to a backend.
type route struct {
	host    string // canonical host; "" matches any host
	prefix  string // normalized: "/" or "/a/b", never a trailing slash
	strip   bool
	backend *backend
	// next is the route's chain (its limits, then the forwarding link),
	// built with the table, so what a route's configuration decides is
	// decided once per table, not per request.
	next handler
}

// table is an immutable routing table. Update builds a new one and swaps it
// in whole, so a request sees either the old table or the new one, never a
// mix, and lookups take no lock.
type table struct {
	hosts map[string][]route // canonical host → its routes, longest prefix first
	any   []route            // routes with an empty host, longest prefix first
}

// newTable indexes the routes of every backend. A route whose host and
// prefix were already claimed by an earlier backend is skipped and reported
// in conflicts: control.Deploy refuses a route another deployment holds
// (in the same canonical form, under one lock with the write), so this is
// unreachable from the API; first-wins keeps the table deterministic if it
// happens anyway. build makes each route's chain; nil leaves it empty (for
// tests of matching alone).
func newTable(backends []*backend, routes [][]spec.Route, build func(spec.Route, *backend) handler) (t *table, conflicts []string) {
	t = &table{hosts: make(map[string][]route)}
	seen := make(map[string]string) // host+prefix → backend name
	for i, b := range backends {
		for _, sr := range routes[i] {
			r := route{host: canonicalHost(sr.Host), prefix: normalizePrefix(sr.PathPrefix), strip: sr.StripPrefix, backend: b}
			key := r.host + r.prefix
			if owner, dup := seen[key]; dup {
				conflicts = append(conflicts, key+" (claimed by "+owner+", also by "+b.name+")")
				continue
			}
			seen[key] = b.name
			if build != nil {
				r.next = build(sr, b)
			}
			if r.host == "" {
				t.any = append(t.any, r)
			} else {
				t.hosts[r.host] = append(t.hosts[r.host], r)
			}
		}
	}
	byLength := func(rs []route) {
		// Two distinct prefixes of the same length cannot both match one path
		// (matching is on segment boundaries), so length alone orders them.
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	}
	for _, rs := range t.hosts {
		byLength(rs)
	}
	byLength(t.any)
	return t, conflicts
}

// match finds the route for a canonical host and a clean path. A route on
// the exact host wins over any-host routes, whatever their prefix lengths
// (like nginx's server_name before location); any-host routes are the
// fallback when none of the host's own prefixes match, and for a host
// that has routes, only the any-host routes of the same owner (app and
// environment): another environment's catch-all must never receive a
// request, and the cookies, for a host it does not own.
func (t *table) match(host, p string) (route, bool) {
	own := t.hosts[host]
	if r, ok := matchPrefix(own, p); ok {
		return r, true
	}
	if len(own) == 0 {
		return matchPrefix(t.any, p)
	}
	owner := own[0].backend.owner // control.Deploy gives a host one owner
	for _, r := range t.any {
		if r.backend.owner == owner && hasPathPrefix(p, r.prefix) {
			return r, true
		}
	}
	return route{}, false
}

func matchPrefix(rs []route, p string) (route, bool) {
	for _, r := range rs {
		if hasPathPrefix(p, r.prefix) {
			return r, true
		}
	}
	return route{}, false
}

// hasPathPrefix reports whether prefix matches p on a segment boundary:
// "/api" matches "/api" and "/api/x" but not "/apix".
func hasPathPrefix(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// stripPrefix removes a matched prefix; what is left is always a rooted path.
func stripPrefix(p, prefix string) string {
	if prefix == "/" {
		return p
	}
	if rest := p[len(prefix):]; rest != "" {
		return rest
	}
	return "/"
}

// normalizePrefix and canonicalHost are spec's canonical forms, the ones
// deploy validation and the route conflict check compare routes in: the
// ingress must see two routes as one exactly when the conflict check does,
// or a route refused as a duplicate in one spelling would pass in another
// and be settled here by first-wins.
func normalizePrefix(p string) string { return spec.CanonicalPath(p) }

// canonicalHost drops the port, a trailing dot and case from a Host header
// or a route's host, so "API.example.com.:8080" and "api.example.com" match.
func canonicalHost(h string) string { return spec.CanonicalHost(h) }

// cleanPath resolves dot segments and repeated slashes before matching, so
// "/public/../admin" is routed (and forwarded) as "/admin" rather than
// slipping past a route on "/admin" to another backend. nginx does the same.
// The common case, a path with nothing to clean, costs two scans and no
// allocation.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' || (!strings.Contains(p, "//") && !strings.Contains(p, "/.")) {
		return p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
