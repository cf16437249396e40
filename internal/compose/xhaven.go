package compose

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

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
//	      limits:              # override the ingress's request limits
//	        max_body: 10m      # bytes, or a size in k, m, g (binary); default 64m
//	        body_timeout: 10s  # longest wait for the next body bytes; default 30s
//	        max_conns_per_client: 32 # requests in flight per client address; default 128
//	  healthcheck:             # run by the agent; replaces compose's healthcheck
//	    type: http             # required: http | tcp
//	    path: /healthz         # http only, default "/"
//	    port: 8080             # required
//	    interval: 1s           # defaults: spec.DefaultCheckInterval, …
//	    timeout: 1s
//	    retries: 3
//	    start_period: 0s
//	  release:                 # how a new revision replaces the running one
//	    strategy: canary       # rolling (default) | blue-green | canary
//	    max_surge: 1           # rolling: instances above replicas
//	    max_unavailable: 0     # rolling: instances below replicas
//	    bake_time: 30s         # blue-green: old set kept warm after the switch
//	    steps:                 # canary: traffic weights; a last 100% is implied
//	      - {weight: 10, pause: 30s}
//	    analysis:              # canary: when a step fails
//	      max_error_rate: 0.05 # 0 < rate <= 1
//	      max_p95_ratio: 2     # >= 1, times the baseline's p95
//	      min_p95: 50ms        # p95 under which latency never fails a step
//	      min_requests: 20     # >= 1, canary requests a step needs
//	    migrate: ["/app", "migrate"] # or a string split into words like
//	                           # compose's command (no shell is run)
//	    drain_timeout: 30s     # in-flight requests' time after leaving the ingress
//
// A release key of another strategy (steps with rolling) is an error, and
// so is a value spec.ReleasePolicy.WithDefaults would silently replace (a
// zero bake_time or drain_timeout). Unset keys are stored as zero and get
// their defaults from WithDefaults, so the policy says what the user wrote.
//
// A service that publishes host ports cannot run two instances at once, so
// only a stop-first rolling release (max_surge: 0, max_unavailable >= 1)
// works for it; see portRelease.
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
	// release is the service's release policy, nil when not written or
	// when it has an error; hasRelease tells the two apart.
	release    *spec.ReleasePolicy
	hasRelease bool
	alerts     []spec.AlertRule
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
		root.bad("must be a mapping with `routes:`, `healthcheck:` and/or `release:`, not %s", describe(v))
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
	if r, ok := obj["release"]; ok && r != nil {
		out.hasRelease = true
		out.release = root.at("release").release(r)
	}
	if a, ok := obj["alerts"]; ok && a != nil {
		items, ok := a.([]any)
		if !ok {
			root.at("alerts").bad("must be a list of rules (- name: …, metric: …), not %s", describe(a))
		}
		for i, it := range items {
			if rule, ok := root.at("alerts", strconv.Itoa(i)).alert(it); ok {
				out.alerts = append(out.alerts, rule)
			}
		}
	}
	return out
}

// alert reads one alert rule; severity defaults to warning, op to ">".
func (x xval) alert(v any) (spec.AlertRule, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		x.bad("a rule must be a mapping with name, metric and value, not %s", describe(v))
		return spec.AlertRule{}, false
	}
	r := spec.AlertRule{Op: ">", Severity: "warning"}
	str := func(key string, dst *string) {
		if raw, found := obj[key]; found {
			if s, ok := x.at(key).str(raw); ok {
				*dst = s
			}
		}
	}
	str("name", &r.Name)
	str("metric", &r.Metric)
	str("op", &r.Op)
	str("severity", &r.Severity)
	switch val := obj["value"].(type) {
	case int:
		r.Value = float64(val)
	case float64:
		r.Value = val
	case nil:
		x.bad("a rule needs `value:`, the threshold")
		return r, false
	default:
		x.at("value").bad("%v must be a number", val)
		return r, false
	}
	if raw, found := obj["for"]; found {
		s, _ := raw.(string)
		d, err := time.ParseDuration(s)
		if err != nil {
			x.at("for").bad("%v is not a duration (e.g. 5m)", raw)
			return r, false
		}
		r.For = spec.Duration(d)
	}
	if raw, found := obj["labels"].(map[string]any); found {
		r.Labels = map[string]string{}
		for k, v := range raw {
			r.Labels[k] = fmt.Sprint(v)
		}
	}
	if err := r.Check(); err != nil {
		x.bad("%v", err)
		return r, false
	}
	return r, true
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
		if err := spec.CheckHost(r.Host); ok && err != nil { // the same rule API deploys meet
			x.at("host").bad("%s", strings.TrimPrefix(err.Error(), spec.ErrBadHost.Error()+": "))
			ok = false
		}
	}
	if p, found := obj["path"]; found {
		var okp bool
		if r.PathPrefix, okp = x.at("path").str(p); okp {
			if err := spec.CheckPath(r.PathPrefix); err != nil {
				x.at("path").bad("%s", strings.TrimPrefix(err.Error(), spec.ErrBadPath.Error()+": "))
				okp = false
			}
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
	if l, found := obj["limits"]; found && l != nil {
		var okl bool
		r.Limits, okl = x.at("limits").limits(l)
		ok = ok && okl
	}
	return r, ok
}

// limits reads a route's limits: every key optional, each value more than
// zero (leave a key out for the ingress default). Nil when none is set.
func (x xval) limits(v any) (*spec.RouteLimits, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		x.bad("must be a mapping like `{max_body: 10m, body_timeout: 10s, max_conns_per_client: 32}`, not %s", describe(v))
		return nil, false
	}
	var l spec.RouteLimits
	ok = true
	if raw, found := obj["max_body"]; found {
		n, okn := x.at("max_body").size(raw)
		l.MaxBodyBytes, ok = n, ok && okn
	}
	if raw, found := obj["body_timeout"]; found {
		d, okd := x.at("body_timeout").duration(raw)
		if okd && d == 0 {
			x.at("body_timeout").bad("must be more than 0s (leave it out for the default, %s)", "30s")
			okd = false
		}
		l.BodyReadTimeout, ok = d, ok && okd
	}
	if raw, found := obj["max_conns_per_client"]; found {
		n, okn := x.at("max_conns_per_client").integer(raw)
		if okn && n < 1 {
			x.at("max_conns_per_client").bad("%d must be 1 or more (leave it out for the default, 128)", n)
			okn = false
		}
		l.MaxConnsPerClient, ok = n, ok && okn
	}
	if !ok || l == (spec.RouteLimits{}) {
		return nil, ok
	}
	return &l, true
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

// strategyKeys are the release keys that only one strategy reads.
var strategyKeys = []struct {
	key      string
	strategy spec.Strategy
}{
	{"max_surge", spec.StrategyRolling},
	{"max_unavailable", spec.StrategyRolling},
	{"bake_time", spec.StrategyBlueGreen},
	{"steps", spec.StrategyCanary},
	{"analysis", spec.StrategyCanary},
}

// release reads x-haven.release. It returns nil when anything is wrong.
func (x xval) release(v any) *spec.ReleasePolicy {
	obj, ok := v.(map[string]any)
	if !ok {
		x.bad("must be a mapping like `{strategy: rolling, max_surge: 1}`, not %s", describe(v))
		return nil
	}
	var p spec.ReleasePolicy
	ok = true
	strategy := spec.StrategyRolling
	if sv, found := obj["strategy"]; found {
		str, oks := x.at("strategy").str(sv)
		switch spec.Strategy(str) {
		case spec.StrategyRolling, spec.StrategyBlueGreen, spec.StrategyCanary:
			p.Strategy = spec.Strategy(str)
			strategy = p.Strategy
		case "":
			if oks {
				x.at("strategy").bad("is empty; use rolling, blue-green or canary, or leave it out for rolling")
			}
			ok, strategy = false, ""
		default:
			x.at("strategy").bad("%q is not a release strategy; use rolling, blue-green or canary", str)
			ok, strategy = false, ""
		}
	}
	if strategy != "" {
		current := string(strategy)
		if p.Strategy == "" {
			current += " (the default)"
		}
		for _, k := range strategyKeys {
			if _, found := obj[k.key]; found && k.strategy != strategy {
				x.at(k.key).bad("belongs to strategy %s, but this release is %s; remove it or set `strategy: %s`", k.strategy, current, k.strategy)
				ok = false
			}
		}
	}

	count := func(key string, dst *int) {
		if n, found := obj[key]; found {
			v, okn := x.at(key).integer(n)
			if okn && v < 0 {
				x.at(key).bad("%d must be 0 or more", v)
				okn = false
			}
			*dst = v
			ok = ok && okn
		}
	}
	count("max_surge", &p.MaxSurge)
	count("max_unavailable", &p.MaxUnavailable)
	if _, surge := obj["max_surge"]; surge && ok && strategy == spec.StrategyRolling && p.MaxSurge == 0 && p.MaxUnavailable == 0 {
		dflt := ""
		if _, found := obj["max_unavailable"]; !found {
			dflt = " (the default)"
		}
		x.at("max_surge").bad("0 with max_unavailable 0%s leaves nothing that could move: no new instance may start beside the old ones and none of them may stop first; set max_surge: 1 (start new instances first) or max_unavailable: 1 (stop old ones first)", dflt)
		ok = false
	}

	ok = x.positive(obj, "bake_time", &p.BakeTime, spec.DefaultBakeTime) && ok
	ok = x.positive(obj, "drain_timeout", &p.DrainTimeout, spec.DefaultDrainTimeout) && ok

	if sv, found := obj["steps"]; found && sv != nil {
		steps, okl := x.at("steps").steps(sv)
		p.Steps = steps
		ok = ok && okl
	}
	if av, found := obj["analysis"]; found && av != nil {
		a, oka := x.at("analysis").analysis(av)
		p.Analysis = a
		ok = ok && oka
	}
	if mv, found := obj["migrate"]; found {
		cmd, okc := x.at("migrate").command(mv)
		p.Migrate = cmd
		ok = ok && okc
	}
	if !ok {
		return nil
	}
	return &p
}

// positive reads obj[key], if present, as a duration above zero: zero
// would be replaced by the default dflt without a word.
func (x xval) positive(obj map[string]any, key string, dst *spec.Duration, dflt time.Duration) bool {
	d, found := obj[key]
	if !found {
		return true
	}
	var ok bool
	*dst, ok = x.at(key).duration(d)
	if ok && *dst == 0 {
		x.at(key).bad("must be more than 0s (leave it out for the default, %s)", dflt)
		ok = false
	}
	return ok
}

// stopFirst is the only release a service that publishes host ports can
// have: the old instance stops, then the new one starts on the freed port.
func stopFirst() *spec.ReleasePolicy {
	return &spec.ReleasePolicy{Strategy: spec.StrategyRolling, MaxSurge: 0, MaxUnavailable: 1}
}

// portRelease checks the release policy p (nil when not written) of svc,
// which publishes host ports. Two instances cannot hold one host port, so
// neither a surge nor a blue-green or canary release can start the new
// revision beside the old one.
func (m *mapper) portRelease(svc *spec.Service, p *spec.ReleasePolicy) *spec.ReleasePolicy {
	if p == nil {
		// Nothing written: the default (a rolling release with a surge
		// of 1) could never start, so deploys get the one that can. It
		// costs a moment of downtime per release; the ingress avoids it.
		return stopFirst()
	}
	eff := p.WithDefaults()
	var why string
	at := []string{xHavenKey, "release"}
	switch {
	case eff.Strategy == spec.StrategyBlueGreen:
		why, at = "a blue-green release starts the new set before it stops the old one", append(at, "strategy")
	case eff.Strategy == spec.StrategyCanary:
		why, at = "a canary release runs both side by side", append(at, "strategy")
	case eff.MaxSurge > 0 && p.MaxSurge == 0:
		why = fmt.Sprintf("a rolling release starts one first by default (max_surge: %d)", eff.MaxSurge)
	case eff.MaxSurge > 0:
		why, at = fmt.Sprintf("max_surge: %d starts new instances first", eff.MaxSurge), append(at, "max_surge")
	default:
		return p
	}
	port := svc.Ports[0]
	portAt := m.at(svc.Name, "ports")
	if i := portIndex(svc, strconv.Itoa(port.Published)); i >= 0 {
		portAt = m.at(svc.Name, "ports", strconv.Itoa(i))
	}
	m.errs.add(m.at(svc.Name, at...), "service %s: publishes host port %d (`ports:` at %s), so a new instance cannot start beside the old one, but %s: use `x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}` (stop first, then start) or route it through the ingress (x-haven.routes) instead of `ports:`",
		svc.Name, port.Published, portAt, why)
	return nil
}

func (x xval) steps(v any) ([]spec.CanaryStep, bool) {
	items, ok := v.([]any)
	if !ok {
		x.bad("must be a list of steps like `- {weight: 10, pause: 30s}`, not %s", describe(v))
		return nil, false
	}
	var out []spec.CanaryStep
	ok = true
	prev := 0
	for i, it := range items {
		at := x.at(strconv.Itoa(i))
		obj, isMap := it.(map[string]any)
		if !isMap {
			at.bad("a step must be a mapping like `{weight: 10, pause: 30s}`, not %s", describe(it))
			ok = false
			continue
		}
		var step spec.CanaryStep
		if w, found := obj["weight"]; found {
			n, okw := at.at("weight").integer(w)
			switch {
			case !okw:
			case n < 1 || n > 100:
				at.at("weight").bad("%d must be a percent from 1 to 100", n)
				okw = false
			case n <= prev:
				at.at("weight").bad("%d must be more than the step before's %d: weights only grow", n, prev)
				okw = false
			}
			if okw {
				prev = n
			}
			step.Weight = n
			ok = ok && okw
		} else {
			at.bad("a step needs `weight:`, the percent of requests sent to the new revision (1-100)")
			ok = false
		}
		if d, found := obj["pause"]; found {
			var okd bool
			step.Pause, okd = at.at("pause").duration(d)
			ok = ok && okd
		}
		out = append(out, step)
	}
	return out, ok
}

func (x xval) analysis(v any) (spec.Analysis, bool) {
	var a spec.Analysis
	obj, ok := v.(map[string]any)
	if !ok {
		x.bad("must be a mapping like `{max_error_rate: 0.05, max_p95_ratio: 2}`, not %s", describe(v))
		return a, false
	}
	ok = true
	if r, found := obj["max_error_rate"]; found {
		f, okf := x.at("max_error_rate").number(r)
		if okf && !(f > 0 && f <= 1) {
			x.at("max_error_rate").bad("%v must be more than 0 and at most 1 (a share of requests: 0.05 is 5%%)", f)
			okf = false
		}
		a.MaxErrorRate = f
		ok = ok && okf
	}
	if r, found := obj["max_p95_ratio"]; found {
		f, okf := x.at("max_p95_ratio").number(r)
		if okf && !(f >= 1) {
			x.at("max_p95_ratio").bad("%v must be 1 or more (how many times the baseline's p95 latency the canary may reach)", f)
			okf = false
		}
		a.MaxP95Ratio = f
		ok = ok && okf
	}
	ok = x.positive(obj, "min_p95", &a.MinP95, spec.DefaultMinP95) && ok
	if r, found := obj["min_requests"]; found {
		n, okn := x.at("min_requests").integer(r)
		if okn && n < 1 {
			x.at("min_requests").bad("%d must be 1 or more", n)
			okn = false
		}
		a.MinRequests = n
		ok = ok && okn
	}
	return a, ok
}

// command reads a command given as a list of words or as one string,
// split into words the way compose splits `command:`. No shell runs it,
// so shell operators are refused rather than silently cut off.
func (x xval) command(v any) ([]string, bool) {
	var out []string
	switch c := v.(type) {
	case string:
		if op := shellOperator(c); op != "" {
			x.bad("%q uses the shell operator %q, but no shell is run; write [\"sh\", \"-c\", %q] if a shell is what you need", c, op, c)
			return nil, false
		}
		var cmd types.ShellCommand
		if err := cmd.DecodeMapstructure(c); err != nil {
			x.bad("%q cannot be split into words (%v); check its quotes, or write it as a list", c, err)
			return nil, false
		}
		out = cmd
	case []any:
		for i, it := range c {
			s, ok := it.(string)
			if !ok {
				x.at(strconv.Itoa(i)).bad("must be a string, not %s; quote it", describe(it))
				return nil, false
			}
			out = append(out, s)
		}
	default:
		x.bad("must be a command, as a list ([\"/app\", \"migrate\"]) or a string, not %s", describe(v))
		return nil, false
	}
	if len(out) == 0 || out[0] == "" {
		x.bad("is empty; give the command to run, e.g. [\"/app\", \"migrate\"], or remove the key")
		return nil, false
	}
	return out, true
}

// shellOperator returns the first shell operator outside quotes in s: the
// word splitter stops there and would drop the rest of the command.
func shellOperator(s string) string {
	var single, double, escaped bool
	for i, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && !single:
			escaped = true
		case r == '\'' && !double:
			single = !single
		case r == '"' && !single:
			double = !double
		case !single && !double && strings.ContainsRune(";&|<>`", r):
			op := string(r)
			if i+1 < len(s) && (s[i+1] == '&' || s[i+1] == '|' || s[i+1] == '>') && s[i+1] == s[i] {
				op += string(s[i+1])
			}
			return op
		}
	}
	return ""
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

func (x xval) number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		if !math.IsNaN(n) && !math.IsInf(n, 0) {
			return n, true
		}
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	x.bad("must be a number, not %s", describe(v))
	return 0, false
}

// sizeUnits are the multipliers of size suffixes: binary, like nginx's
// client_max_body_size and compose's memory limits ("10m" is 10 MiB).
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}

// size reads a byte size more than zero: a whole number of bytes, or a
// number with a unit (10m, 1.5g, 512KiB).
func (x xval) size(v any) (int64, bool) {
	var n float64
	unit := ""
	switch t := v.(type) {
	case int:
		n = float64(t)
	case int64:
		n = float64(t)
	case uint64:
		n = float64(t)
	case float64:
		n = t
	case string:
		s := strings.ToLower(strings.TrimSpace(t))
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			i = len(s)
		}
		f, err := strconv.ParseFloat(s[:i], 64)
		if _, known := sizeUnits[strings.TrimSpace(s[i:])]; err != nil || !known {
			x.bad("%q is not a size; write bytes (1048576) or a number with k, m or g (10m is 10 MiB)", t)
			return 0, false
		}
		n, unit = f, strings.TrimSpace(s[i:])
	default:
		x.bad("must be a size like 10m or 1048576, not %s", describe(v))
		return 0, false
	}
	b := n * float64(sizeUnits[unit])
	switch {
	case math.IsNaN(b) || b < 1:
		x.bad("%v must be at least 1 byte (leave it out for the default, 64m)", v)
		return 0, false
	case b > 1<<50:
		x.bad("%v is more than a petabyte; write a size like 10g", v)
		return 0, false
	}
	return int64(b), true
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
		} else if err == nil {
			x.bad("%s must not be negative", s)
			return 0, false
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
