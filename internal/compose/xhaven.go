package compose

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// xHavenKey is the compose extension that carries what compose lacks.
//
// On a service (every key optional; unknown keys are errors):
//
//	x-haven:
//	  routes:                  # ingress routes to this service
//	    - host: shop.localhost # exact host; empty = any host
//	      path: /api           # path prefix, default "/"
//	      port: 8080           # required: the container port
//	      strip_prefix: false  # remove path before forwarding
//	  healthcheck:             # run by the agent; replaces compose's healthcheck
//	    type: http             # required: http | tcp
//	    path: /healthz         # http only, default "/"
//	    port: 8080             # required
//	    interval: 1s           # defaults: spec.DefaultCheckInterval, …
//	    timeout: 1s
//	    retries: 3
//	    start_period: 0s
//
// At the top level x-haven is reserved and has no keys yet.
//
// Unknown keys are found on the raw files (see checkKeys) so they carry a
// position; values are read here from compose-go's merged, interpolated
// model so ${VAR} and override files work in x-haven as everywhere else.
const xHavenKey = "x-haven"

type xHaven struct {
	routes []spec.Route
	health *spec.HealthCheck
}

// xval reads one x-haven value, reporting problems at its position.
type xval struct {
	m    *mapper
	svc  string
	path []string
}

func (x xval) at(elems ...string) xval {
	return xval{m: x.m, svc: x.svc, path: append(append([]string(nil), x.path...), elems...)}
}

func (x xval) bad(format string, args ...any) {
	where := strings.Join(x.path, ".")
	x.m.errs.add(x.m.at(x.svc, x.path...), "service %s: %s: %s", x.svc, where, fmt.Sprintf(format, args...))
}

func (m *mapper) xHaven(svc string, v any) xHaven {
	var out xHaven
	root := xval{m: m, svc: svc, path: []string{xHavenKey}}
	if v == nil {
		return out
	}
	obj, ok := v.(map[string]any)
	if !ok {
		root.bad("must be a mapping with `routes:` and/or `healthcheck:`, not %s", describe(v))
		return out
	}
	if r, ok := obj["routes"]; ok && r != nil {
		items, ok := r.([]any)
		if !ok {
			root.at("routes").bad("must be a list of routes (- port: 8080), not %s", describe(r))
		}
		for i, it := range items {
			if route, ok := root.at("routes", strconv.Itoa(i)).route(it); ok {
				out.routes = append(out.routes, route)
			}
		}
	}
	if h, ok := obj["healthcheck"]; ok && h != nil {
		out.health = root.at("healthcheck").health(h)
	}
	return out
}

func (x xval) route(v any) (spec.Route, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		x.bad("a route must be a mapping with at least `port:`, not %s", describe(v))
		return spec.Route{}, false
	}
	r := spec.Route{PathPrefix: "/"}
	ok = true
	if h, found := obj["host"]; found {
		r.Host, ok = x.at("host").str(h)
		if ok && (strings.ContainsAny(r.Host, ":/ ") || r.Host != strings.ToLower(r.Host)) {
			x.at("host").bad("%q must be a lowercase host name without scheme, port or path (e.g. shop.example.com)", r.Host)
			ok = false
		}
	}
	if p, found := obj["path"]; found {
		var okp bool
		if r.PathPrefix, okp = x.at("path").str(p); okp && !strings.HasPrefix(r.PathPrefix, "/") {
			x.at("path").bad("%q must start with /", r.PathPrefix)
			okp = false
		}
		ok = ok && okp
	}
	if p, found := obj["port"]; found {
		var okp bool
		r.Port, okp = x.at("port").port(p)
		ok = ok && okp
	} else {
		x.bad("a route needs `port:`, the container port requests go to")
		ok = false
	}
	if s, found := obj["strip_prefix"]; found {
		var okb bool
		r.StripPrefix, okb = x.at("strip_prefix").boolean(s)
		ok = ok && okb
	}
	return r, ok
}

func (x xval) health(v any) *spec.HealthCheck {
	obj, ok := v.(map[string]any)
	if !ok {
		x.bad("must be a mapping with `type:` and `port:`, not %s", describe(v))
		return nil
	}
	var h spec.HealthCheck
	ok = true
	switch t, _ := obj["type"].(string); t {
	case "http":
		h.Kind = spec.CheckHTTP
	case "tcp":
		h.Kind = spec.CheckTCP
	case "":
		x.bad("needs `type: http` or `type: tcp`")
		ok = false
	default:
		x.at("type").bad("%q is not a check type; use http or tcp", t)
		ok = false
	}
	if p, found := obj["path"]; found {
		var okp bool
		h.Path, okp = x.at("path").str(p)
		switch {
		case okp && h.Kind == spec.CheckTCP:
			x.at("path").bad("a tcp check has no path; remove it or use type: http")
			okp = false
		case okp && !strings.HasPrefix(h.Path, "/"):
			x.at("path").bad("%q must start with /", h.Path)
			okp = false
		}
		ok = ok && okp
	}
	if p, found := obj["port"]; found {
		var okp bool
		h.Port, okp = x.at("port").port(p)
		ok = ok && okp
	} else {
		x.bad("needs `port:`, the container port to check")
		ok = false
	}
	for _, f := range []struct {
		key string
		dst *spec.Duration
	}{{"interval", &h.Interval}, {"timeout", &h.Timeout}, {"start_period", &h.StartPeriod}} {
		if d, found := obj[f.key]; found {
			var okd bool
			*f.dst, okd = x.at(f.key).duration(d)
			ok = ok && okd
		}
	}
	if r, found := obj["retries"]; found {
		n, okn := x.at("retries").integer(r)
		if okn && n < 1 {
			x.at("retries").bad("%d must be 1 or more", n)
			okn = false
		}
		h.Retries = n
		ok = ok && okn
	}
	if !ok {
		return nil
	}
	h = h.WithDefaults()
	return &h
}

// Values arrive as YAML decoded them, or as strings after ${VAR}
// interpolation, so every reader accepts both.

func (x xval) str(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case nil:
		return "", true
	}
	x.bad("must be a string, not %s", describe(v))
	return "", false
}

func (x xval) integer(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		if n <= math.MaxInt32 {
			return int(n), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= math.MaxInt32 {
			return int(n), true
		}
	case string:
		if i, err := strconv.Atoi(strings.TrimSpace(n)); err == nil {
			return i, true
		}
	}
	x.bad("must be a whole number, not %s", describe(v))
	return 0, false
}

func (x xval) port(v any) (int, bool) {
	p, ok := x.integer(v)
	if ok && (p < 1 || p > 65535) {
		x.bad("%d is not a valid port (1-65535)", p)
		return p, false
	}
	return p, ok
}

func (x xval) boolean(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		if parsed, err := strconv.ParseBool(b); err == nil {
			return parsed, true
		}
	}
	x.bad("must be true or false, not %s", describe(v))
	return false, false
}

func (x xval) duration(v any) (spec.Duration, bool) {
	if s, ok := v.(string); ok {
		if d, err := time.ParseDuration(s); err == nil && d >= 0 {
			return spec.Duration(d), true
		}
	}
	x.bad("must be a duration like 1s, 500ms or 1m30s, not %s", describe(v))
	return 0, false
}

func describe(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "nothing"
	}
	return fmt.Sprint(v)
}
