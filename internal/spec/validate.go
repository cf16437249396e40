package spec

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
)

// ErrInvalid marks an App that breaks a rule. Errors returned by Validate
// wrap it and name the offending service and field.
var ErrInvalid = errors.New("invalid app")

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidName reports whether s can name an app, environment or service: a
// lowercase DNS label, because it ends up in host names, network names and
// container names.
func ValidName(s string) bool { return dnsLabel.MatchString(s) }

// Canonicalize rewrites every route's host and path into canonical form
// (Route.Canonical), the form deploys store and the ingress matches. Run it
// after Validate, which checks hosts and paths as they were written (a port
// in a host is refused, not silently dropped) and compares routes by their
// canonical keys.
func (a *App) Canonicalize() {
	for i := range a.Services {
		s := &a.Services[i]
		if len(s.Routes) == 0 {
			continue
		}
		routes := make([]Route, len(s.Routes))
		for j, r := range s.Routes {
			routes[j] = r.Canonical()
		}
		s.Routes = routes
	}
}

// Validate checks the rules that hold for any App, wherever it came from
// (compose or the API): names, ports, replicas, the size bounds (limits.go),
// route hosts and paths, references between services, dependency cycles
// and route conflicts within the app. It returns every problem found,
// joined, each wrapping ErrInvalid.
func (a *App) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if !ValidName(a.Name) {
		bad("app name %q must be a lowercase DNS label (a-z, 0-9, '-'); set `name:` in the compose file or pass --name", a.Name)
	}
	if len(a.Services) == 0 {
		bad("app %q has no services", a.Name)
	}
	if len(a.Services) > MaxServices {
		bad("app %q has %d services; an app may have at most %d (Haven runs them all on one machine); split it into several apps", a.Name, len(a.Services), MaxServices)
	}
	instances := 0
	for _, s := range a.Services {
		if s.Replicas > 0 {
			instances += s.Replicas
		}
	}
	if instances > MaxInstances {
		bad("app %q asks for %d instances in all (the sum of its replicas); an app may run at most %d, so that one machine can hold them and status answers promptly; lower replicas", a.Name, instances, MaxInstances)
	}
	for name, sec := range a.Secrets {
		if !Printable(name) || name == "" || strings.ContainsAny(name, "/ ") {
			bad("secret name %q must be printable, without '/' or spaces", name)
		}
		if !Printable(sec.File) {
			bad("secret %q: file %q contains a control character", name, sec.File)
		}
	}
	if n := a.Network; n != nil {
		for _, sub := range n.Subnets {
			if _, _, err := net.ParseCIDR(sub.Subnet); err != nil {
				bad("network subnet %q is not a CIDR subnet (like 172.28.0.0/16)", sub.Subnet)
			}
		}
	}
	for _, v := range a.Volumes {
		if !Printable(v.Name) || v.Name == "" || strings.ContainsAny(v.Name, "/ ") {
			bad("volume name %q must be printable, without '/' or spaces", v.Name)
		}
		badLabels("volume "+v.Name, v.Labels, bad)
	}
	for _, msg := range containerNameClashes(a.Services) { // container.go
		bad("%s", msg)
	}
	seen := map[string]bool{}
	routes := map[string]string{}
	hostPorts := map[string]string{}
	for _, s := range a.Services {
		where := "service " + s.Name
		if !ValidName(s.Name) {
			bad("service name %q must be a lowercase DNS label (a-z, 0-9, '-')", s.Name)
		}
		if seen[s.Name] {
			bad("service %q is defined twice", s.Name)
		}
		seen[s.Name] = true
		if s.Image == "" && s.Build == nil && len(s.Command) == 0 && len(s.Entrypoint) == 0 {
			bad("%s: needs an image, a build or a command", where)
		}
		if s.Replicas < 0 {
			bad("%s: replicas %d must be 0 or more", where, s.Replicas)
		}
		if s.Replicas > MaxReplicas {
			bad("%s: replicas %d is more than %d, the most one service may run on a Haven machine; lower replicas", where, s.Replicas, MaxReplicas)
		}
		if len(s.Routes) > MaxRoutes {
			bad("%s: has %d routes; a service may have at most %d; route a common path prefix instead of many", where, len(s.Routes), MaxRoutes)
		}
		badLabels(where, s.Labels, bad)
		for _, ref := range s.Secrets {
			if !Printable(ref.Target) || strings.Contains(ref.Target, "/") {
				bad("%s: secret target %q must be a printable file name without '/'", where, ref.Target)
			}
		}
		for i, r := range s.Alerts { // compose checks them too; API deploys only here
			if err := r.Check(); err != nil {
				bad("%s: alert %d: %v", where, i+1, err)
			}
			badLabels(fmt.Sprintf("%s: alert %d", where, i+1), r.Labels, bad)
		}
		for _, n := range s.Networks {
			if !Printable(n) {
				bad("%s: network name %q contains a control character", where, n)
			}
		}
		switch s.Restart {
		case RestartAlways, RestartOnFailure, RestartNever:
		default:
			bad("%s: restart policy %q must be one of always, on-failure, no", where, s.Restart)
		}
		for _, p := range s.Container.Check(s.Replicas) { // container.go
			bad("%s: %s", where, p.Msg)
		}
		if sw := s.Container.MemorySwapBytes; sw != 0 && sw != -1 && (s.Resources.MemoryBytes == 0 || sw < s.Resources.MemoryBytes) {
			bad("%s: memswap_limit %d needs a memory limit (mem_limit or deploy.resources.limits.memory) no larger than it: memswap_limit is memory plus swap; set one, or write memswap_limit: -1 for unlimited swap", where, sw)
		} else if sw == -1 && s.Resources.MemoryBytes == 0 {
			bad("%s: memswap_limit -1 needs a memory limit (mem_limit or deploy.resources.limits.memory) to apply to", where)
		}
		if s.Resources.NanoCPUs != 0 && s.Container.NanoCPUs == 0 && (s.Container.CPUQuota != 0 || s.Container.CPUPeriod != 0) {
			bad("%s: deploy.resources.limits.cpus and cpu_quota/cpu_period set the same CPU limit, and the Engine refuses them together; keep one of them", where)
		}
		if msg := readOnlySecrets(s, a.Secrets); msg != "" {
			bad("%s: %s", where, msg)
		}
		if s.RestartRetries < 0 || (s.RestartRetries > 0 && s.Restart != RestartOnFailure) {
			bad("%s: restart retries %d need restart: on-failure and must be 0 or more; write on-failure:N", where, s.RestartRetries)
		}
		for _, p := range s.Ports {
			if !validPort(p.Target) {
				bad("%s: port %d is not a valid port (1-65535)", where, p.Target)
			}
			if !validPort(p.Published) {
				bad("%s: published port %d is not a valid port (1-65535)", where, p.Published)
				continue
			}
			if s.Replicas > 1 {
				bad("%s: publishes host port %d but has %d replicas; only one instance can hold a host port, so route it through the ingress (x-haven.routes) instead", where, p.Published, s.Replicas)
			}
			key := fmt.Sprintf("%s:%d/%s", p.HostIP, p.Published, p.Protocol)
			if other, ok := hostPorts[key]; ok {
				bad("%s: host port %d is already published by service %s", where, p.Published, other)
			}
			hostPorts[key] = s.Name
		}
		for _, p := range s.Expose {
			if !validPort(p) {
				bad("%s: exposed port %d is not a valid port (1-65535)", where, p)
			}
		}
		for _, r := range s.Routes {
			if !validPort(r.Port) {
				bad("%s: route %s: port %d is not a valid port (1-65535)", where, r, r.Port)
			}
			if err := CheckHost(r.Host); err != nil {
				bad("%s: route host %v", where, trimReason(err, ErrBadHost))
			}
			if err := CheckPath(r.PathPrefix); err != nil {
				bad("%s: route path %v", where, trimReason(err, ErrBadPath))
			}
			if other, ok := routes[r.Key()]; ok {
				bad("%s: route %s claims the same host and path as service %s; give one of them another host or path", where, r, other)
			}
			routes[r.Key()] = s.Name
		}
		if h := s.Health; h != nil {
			switch h.Kind {
			case CheckHTTP, CheckTCP:
				if !validPort(h.Port) {
					bad("%s: %s health check port %d is not a valid port (1-65535)", where, h.Kind, h.Port)
				}
			case CheckExec:
				if len(h.Command) == 0 {
					bad("%s: exec health check has no command", where)
				}
			case CheckNone:
			default:
				bad("%s: health check kind %q must be one of http, tcp, exec, none", where, h.Kind)
			}
		}
		switch s.NetworkMode {
		case "", NetworkHost, NetworkNone:
		default:
			bad("%s: network mode %q must be host or none (or empty: the app's network)", where, s.NetworkMode)
		}
		if s.NetworkMode == NetworkHost && s.Replicas > 1 {
			bad("%s: network_mode host with %d replicas: every instance would listen on the same host ports; use replicas: 1, or drop network_mode and route through the ingress (x-haven.routes)", where, s.Replicas)
		}
		if (s.IPv4Address != "" || s.IPv6Address != "") && s.Replicas > 1 {
			bad("%s: a fixed ipv4_address/ipv6_address with %d replicas: only one instance can hold an address; use replicas: 1, or drop the address and reach the service by name", where, s.Replicas)
		}
		if s.NetworkMode != "" && (s.IPv4Address != "" || s.IPv6Address != "" || len(s.Aliases) > 0 || len(s.ExternalNetworks) > 0) {
			bad("%s: network_mode %s puts the instance outside the app's network, so it has no address, alias or other network; remove ipv4_address/ipv6_address/aliases/networks", where, s.NetworkMode)
		}
		for _, n := range s.ExternalNetworks {
			if n == "" || !Printable(n) || strings.ContainsAny(n, "/ ") {
				bad("%s: external network name %q must be printable, without '/' or spaces", where, n)
			}
		}
		for _, ip := range []string{s.IPv4Address, s.IPv6Address} {
			if ip != "" && net.ParseIP(ip) == nil {
				bad("%s: address %q is not an IP address", where, ip)
			}
		}
		for _, m := range s.Volumes {
			if m.SELinux != "" && m.SELinux != "z" && m.SELinux != "Z" {
				bad("%s: mount %s: SELinux label %q must be z or Z", where, m.Target, m.SELinux)
			}
			switch m.Propagation {
			case "", "rprivate", "private", "rshared", "shared", "rslave", "slave":
			default:
				bad("%s: mount %s: propagation %q must be one of rprivate, private, rshared, shared, rslave, slave", where, m.Target, m.Propagation)
			}
		}
		for _, f := range s.Files {
			if !strings.HasPrefix(f.Target, "/") || !Printable(f.Target) || strings.Contains(f.Target, "/../") || strings.HasSuffix(f.Target, "/") {
				bad("%s: file target %q must be an absolute, printable file path", where, f.Target)
			}
			if f.Mode > 0o7777 || f.UID < 0 || f.GID < 0 {
				bad("%s: file %s: mode %o, uid %d, gid %d must be permission bits and ids of 0 or more", where, f.Target, f.Mode, f.UID, f.GID)
			}
		}
		if s.NetworkMode == NetworkNone && len(s.Routes) > 0 {
			bad("%s: network_mode none leaves the instance unreachable, so its routes could never be served; remove x-haven.routes or network_mode", where)
		}
		if r := s.Release; r != nil {
			switch r.Strategy {
			case "", StrategyRolling, StrategyBlueGreen, StrategyCanary:
			default:
				bad("%s: release strategy %q must be rolling, blue-green or canary", where, r.Strategy)
			}
			if r.MaxSurge < 0 || r.MaxUnavailable < 0 {
				bad("%s: release max_surge and max_unavailable must be 0 or more", where)
			}
			last := 0
			for i, st := range r.Steps {
				if st.Weight < 1 || st.Weight > 100 || st.Weight <= last {
					bad("%s: release step %d weight %d must be a percent (1-100) above the step before's", where, i+1, st.Weight)
				}
				last = st.Weight
			}
			if a := r.Analysis; a.MaxErrorRate < 0 || a.MaxErrorRate > 1 || (a.MaxP95Ratio != 0 && a.MaxP95Ratio < 1) || a.MinRequests < 0 {
				bad("%s: release analysis needs 0 < max_error_rate <= 1, max_p95_ratio >= 1 and min_requests >= 1", where)
			}
			if len(s.Ports) > 0 && r.WithDefaults().Strategy != StrategyRolling || len(s.Ports) > 0 && r.WithDefaults().MaxSurge > 0 {
				bad("%s: publishes a host port, so a new instance cannot start beside the old one: use release {strategy: rolling, max_surge: 0, max_unavailable: 1}", where)
			}
		}
		for _, m := range s.Volumes {
			if m.Type == MountVolume && m.Source != "" && !a.hasVolume(m.Source) {
				bad("%s: mounts volume %q, which is not declared under top-level `volumes:`", where, m.Source)
			}
		}
		for _, ref := range s.Secrets {
			if _, ok := a.Secrets[ref.Source]; !ok {
				bad("%s: uses secret %q, which is not declared under top-level `secrets:`", where, ref.Source)
			}
		}
	}
	for _, s := range a.Services {
		for _, d := range s.DependsOn {
			if !seen[d.Service] {
				bad("service %s: depends_on names %q, which is not a service of this app (services: %s)", s.Name, d.Service, strings.Join(a.serviceNames(), ", "))
			}
		}
	}
	if cycle := a.dependencyCycle(); cycle != nil {
		bad("dependency cycle: %s; remove one of these depends_on entries", strings.Join(cycle, " -> "))
	}
	return errors.Join(errs...)
}

func validPort(p int) bool { return p >= 1 && p <= 65535 }

// trimReason drops the sentinel's own words from err's message: Validate's
// errors wrap ErrInvalid and say "route host" themselves.
func trimReason(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

// badLabels refuses label keys and values that could not be shown safely:
// labels reach tables and metric names.
func badLabels(where string, labels map[string]string, bad func(string, ...any)) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !Printable(k) || !Printable(labels[k]) {
			bad("%s: label %q=%q contains a control character", where, k, labels[k])
		}
	}
}

func (a *App) hasVolume(name string) bool {
	for _, v := range a.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

func (a *App) serviceNames() []string {
	names := make([]string, 0, len(a.Services))
	for _, s := range a.Services {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}

// dependencyCycle returns one cycle in depends_on as a path that starts and
// ends on the same service, or nil when there is none.
func (a *App) dependencyCycle() []string {
	const (
		unvisited = iota
		inPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) []string
	visit = func(name string) []string {
		switch state[name] {
		case inPath:
			for i, n := range path {
				if n == name {
					return append(append([]string{}, path[i:]...), name)
				}
			}
		case done:
			return nil
		}
		s, ok := a.Service(name)
		if !ok {
			return nil
		}
		state[name] = inPath
		path = append(path, name)
		for _, d := range s.DependsOn {
			if c := visit(d.Service); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, name := range a.serviceNames() {
		if c := visit(name); c != nil {
			return c
		}
	}
	return nil
}

// StartOrder returns service names so that every service comes after the
// services it depends on (ties broken by name). It assumes Validate passed.
func (a *App) StartOrder() []string {
	var order []string
	placed := map[string]bool{}
	var place func(name string)
	place = func(name string) {
		if placed[name] {
			return
		}
		placed[name] = true
		if s, ok := a.Service(name); ok {
			deps := make([]string, 0, len(s.DependsOn))
			for _, d := range s.DependsOn {
				deps = append(deps, d.Service)
			}
			sort.Strings(deps)
			for _, d := range deps {
				place(d)
			}
		}
		order = append(order, name)
	}
	for _, name := range a.serviceNames() {
		place(name)
	}
	return order
}
