package agent

import (
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// restartWindow is the window of restarts_10m.
const restartWindow = 10 * time.Minute

// InstanceInfo is what the metrics collector needs of one instance.
type InstanceInfo struct {
	ID      string
	Labels  spec.InstanceLabels
	Running bool
	// Limits are the service's declared limits.
	Limits spec.Resources
	// Restarts10m counts the service's failed instances in the last 10 minutes.
	Restarts10m int
}

// BackendInfo names one routed backend of the ingress.
type BackendInfo struct {
	Name    string
	Env     spec.AppEnv
	Service string
	// Route is a readable form of the backend's routes.
	Route string
}

// Instances returns the instances seen in the last pass, for the
// collector.
func (a *Agent) Instances() []InstanceInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	out := make([]InstanceInfo, 0, len(a.lastInstances))
	for _, o := range a.lastInstances {
		key := serviceKey{spec.AppEnv{App: o.Labels.App, Env: o.Labels.Env}, o.Labels.Service}
		n := 0
		for _, t := range a.failureTimes[key] {
			if now.Sub(t) <= restartWindow {
				n++
			}
		}
		out = append(out, InstanceInfo{ID: o.ID, Labels: o.Labels, Running: o.Running, Limits: o.limits, Restarts10m: n})
	}
	return out
}

// Backends returns the ingress backends of the last pass.
func (a *Agent) Backends() []BackendInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]BackendInfo(nil), a.lastBackends...)
}

// remember keeps what the collector reads, at the end of a pass.
func (a *Agent) remember(byEnv map[spec.AppEnv][]observed, desired map[spec.AppEnv]*spec.Deployment, backends []backendEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastInstances = a.lastInstances[:0]
	for env, obs := range byEnv {
		for _, o := range obs {
			if o.Labels.Role != "" {
				continue
			}
			var limits spec.Resources
			if d := desired[env]; d != nil {
				if svc, ok := d.App.Service(o.Labels.Service); ok {
					limits = svc.Resources
				}
			}
			a.lastInstances = append(a.lastInstances, instanceRecord{ID: o.ID, Labels: o.Labels, Running: o.Running, limits: limits})
		}
	}
	a.lastBackends = a.lastBackends[:0]
	for _, b := range backends {
		a.lastBackends = append(a.lastBackends, BackendInfo{Name: b.name, Env: b.env, Service: b.service, Route: b.route})
	}
	cutoff := time.Now().Add(-restartWindow)
	for key, times := range a.failureTimes {
		kept := times[:0]
		for _, t := range times {
			if t.After(cutoff) {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			delete(a.failureTimes, key)
		} else {
			a.failureTimes[key] = kept
		}
	}
}

type instanceRecord struct {
	ID      string
	Labels  spec.InstanceLabels
	Running bool
	limits  spec.Resources
}

type backendEntry struct {
	name, route, service string
	env                  spec.AppEnv
}

func routeString(routes []spec.Route) string {
	parts := make([]string, len(routes))
	for i, r := range routes {
		host := r.Host
		if host == "" {
			host = "*"
		}
		parts[i] = host + r.PathPrefix
	}
	return strings.Join(parts, ",")
}

// backendOwner splits a backend name ("app/env/service:port") back into
// its app+environment and service.
func backendOwner(name string) (spec.AppEnv, string) {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) != 3 {
		return spec.AppEnv{}, name
	}
	service, _, _ := strings.Cut(parts[2], ":")
	return spec.AppEnv{App: parts[0], Env: parts[1]}, service
}
