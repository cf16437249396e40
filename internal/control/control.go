package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/logs"
	"github.com/haven-platform/haven/internal/secrets"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Reconciler is the part of the agent the use cases drive.
type Reconciler interface {
	Nudge()
	Status() []spec.EnvStatus
	WaitPass(ctx context.Context) error
}

// LogReader is what the read side needs of the log store.
type LogReader interface {
	Query(ctx context.Context, q logs.Query, fn func(logs.Line) error) error
}

// SecretLister is what deploys need of the secret store: which secrets an
// environment has (never their values).
type SecretLister interface {
	List(ctx context.Context, env string) ([]secrets.Info, error)
}

// Controller runs the use cases.
type Controller struct {
	Store   store.Store
	Driver  driver.Driver
	Agent   Reconciler
	Secrets SecretLister
	// MetricsStore answers metric queries (nil: no metrics kept).
	MetricsStore MetricsReader
	// LogStore answers log queries.
	LogStore LogReader

	// claimMu makes the route check and the write of a deploy one step:
	// without it two deploys could each pass the check against a store that
	// has neither of them yet, and the ingress would be left to pick one.
	claimMu sync.Mutex
}

// Change says what a deploy does to one service.
type Change struct {
	Service string `json:"service"`
	// Kind is "added", "updated", "removed", "scaled" or "unchanged".
	Kind     string `json:"kind"`
	Revision string `json:"revision"`
}

// Deploy makes app the desired state of app.Name in env. It validates,
// puts the app's routes in canonical form (what is stored is what the
// ingress matches), checks for conflicts with other deployments and the
// machine's ports, resolves every image (building those with a build
// section), and only then writes the store, checking the routes again
// under the lock that serializes deploys' writes.
func (c *Controller) Deploy(ctx context.Context, env string, app spec.App) (spec.Deployment, []Change, error) {
	if env == "" {
		env = spec.DefaultEnv
	}
	if !spec.ValidName(env) {
		return spec.Deployment{}, nil, fmt.Errorf("%w: environment name %q must be a lowercase DNS label (a-z, 0-9, '-')", spec.ErrInvalid, env)
	}
	app.SortServices()
	if err := app.Validate(); err != nil {
		return spec.Deployment{}, nil, err
	}
	app.Canonicalize()
	target := spec.AppEnv{App: app.Name, Env: env}
	all, err := c.Store.ListDeployments(ctx)
	if err != nil {
		return spec.Deployment{}, nil, err
	}
	var previous *spec.Deployment
	for i := range all {
		if all[i].AppEnv == target {
			previous = &all[i]
		}
	}
	carryRestarts(previous, &app)
	if err := c.externalSecrets(ctx, env, app); err != nil {
		return spec.Deployment{}, nil, err
	}
	if err := routeConflicts(target, app, all); err != nil {
		return spec.Deployment{}, nil, err
	}
	if err := c.activeReleaseConflict(ctx, target, previous, app); err != nil {
		return spec.Deployment{}, nil, err
	}
	if err := portConflicts(app, previous); err != nil {
		return spec.Deployment{}, nil, err
	}
	for i := range app.Services {
		svc := &app.Services[i]
		id, err := c.Driver.PrepareImage(ctx, target, *svc)
		if err != nil {
			return spec.Deployment{}, nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		svc.ImageID = id
	}
	var expected int64
	if previous != nil {
		expected = previous.Generation
	}
	// Images can take minutes to build, so the first route check ran
	// unlocked to fail fast; this one holds until the write.
	c.claimMu.Lock()
	defer c.claimMu.Unlock()
	if all, err = c.Store.ListDeployments(ctx); err != nil {
		return spec.Deployment{}, nil, err
	}
	if err := routeConflicts(target, app, all); err != nil {
		return spec.Deployment{}, nil, err
	}
	for _, s := range app.Services { // history keeps what each deploy asked for
		if _, err := c.Store.RecordRevision(ctx, target, s, "deploy"); err != nil {
			return spec.Deployment{}, nil, err
		}
	}
	d, err := c.Store.PutDeployment(ctx, spec.Deployment{AppEnv: target, App: app}, expected)
	if err != nil {
		return spec.Deployment{}, nil, err
	}
	c.Agent.Nudge()
	return d, changes(previous, app), nil
}

// routeConflicts refuses routes another app or environment holds: the
// ingress is shared by all of them, and a route taken from another
// environment would receive its requests, cookies included. Routes are
// compared in canonical form (spec.Route.Key), as the ingress matches them.
// A named host belongs to one app and environment: a route on a host that
// another one routes is refused whatever its path, since cookies follow
// the host. Any-host routes conflict when one's prefix contains the
// other's. So the ingress never has two backends for one request to
// choose from.
func routeConflicts(target spec.AppEnv, app spec.App, all []spec.Deployment) error {
	type claim struct {
		route  spec.Route
		holder string
	}
	byKey := map[string]claim{}
	byHost := map[string]claim{}
	var anyHost []claim
	for _, d := range all {
		if d.AppEnv == target {
			continue
		}
		for _, s := range d.App.Services {
			for _, r := range s.Routes {
				c := claim{r, fmt.Sprintf("service %s of %s", s.Name, d.AppEnv)}
				if _, ok := byKey[r.Key()]; !ok {
					byKey[r.Key()] = c
				}
				if h := spec.CanonicalHost(r.Host); h == "" {
					anyHost = append(anyHost, c)
				} else if _, ok := byHost[h]; !ok {
					byHost[h] = c
				}
			}
		}
	}
	var errs []error
	for _, s := range app.Services {
		for _, r := range s.Routes {
			if c, ok := byKey[r.Key()]; ok {
				errs = append(errs, fmt.Errorf("%w: service %s: route %s is held by %s; choose another host or path, or take that app down", spec.ErrInvalid, s.Name, claimName(r), c.holder))
				continue
			}
			if h := spec.CanonicalHost(r.Host); h != "" {
				if c, ok := byHost[h]; ok {
					errs = append(errs, fmt.Errorf("%w: service %s: route %s is on host %s, which %s routes (%s); a host belongs to one app and environment, so choose another host", spec.ErrInvalid, s.Name, claimName(r), h, c.holder, claimName(c.route)))
				}
				continue
			}
			for _, c := range anyHost {
				if r.Covers(c.route) {
					errs = append(errs, fmt.Errorf("%w: service %s: route %s overlaps route %s held by %s, so one would take the other's requests; choose another path, or give the route a host", spec.ErrInvalid, s.Name, claimName(r), claimName(c.route), c.holder))
					break
				}
			}
		}
	}
	return errors.Join(errs...)
}

// claimName shows a route's claim as the ingress sees it: canonical host
// (or * for any host) and path, e.g. prod.localhost/api.
func claimName(r spec.Route) string {
	h := spec.CanonicalHost(r.Host)
	if h == "" {
		h = "*"
	}
	p := spec.CanonicalPath(r.PathPrefix)
	if p == "/" {
		return h + "/"
	}
	return h + p
}

// portConflicts refuses host ports already taken on this machine, except
// a port the previous deployment of the same service publishes (its own
// instance holds it).
func portConflicts(app spec.App, previous *spec.Deployment) error {
	held := map[string]bool{}
	if previous != nil {
		for _, s := range previous.App.Services {
			for _, p := range s.Ports {
				held[fmt.Sprintf("%s/%s:%d", s.Name, p.HostIP, p.Published)] = true
			}
		}
	}
	var errs []error
	for _, s := range app.Services {
		for _, p := range s.Ports {
			if held[fmt.Sprintf("%s/%s:%d", s.Name, p.HostIP, p.Published)] || p.Protocol == "udp" {
				continue
			}
			l, err := net.Listen("tcp", net.JoinHostPort(p.HostIP, strconv.Itoa(p.Published)))
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s: host port %d is already in use on this machine: %w; free it or change `ports:`", s.Name, p.Published, driver.ErrPortInUse))
				continue
			}
			l.Close()
		}
	}
	return errors.Join(errs...)
}

func changes(previous *spec.Deployment, app spec.App) []Change {
	var out []Change
	seen := map[string]bool{}
	for _, s := range app.Services {
		seen[s.Name] = true
		ch := Change{Service: s.Name, Revision: s.Revision(), Kind: "added"}
		if previous != nil {
			if old, ok := previous.App.Service(s.Name); ok {
				switch {
				case old.Revision() != ch.Revision:
					ch.Kind = "updated"
				case old.Replicas != s.Replicas:
					ch.Kind = "scaled"
				default:
					ch.Kind = "unchanged"
				}
			}
		}
		out = append(out, ch)
	}
	if previous != nil {
		for _, s := range previous.App.Services {
			if !seen[s.Name] {
				out = append(out, Change{Service: s.Name, Kind: "removed", Revision: s.Revision()})
			}
		}
	}
	return out
}

// Scale sets the replica count of services of a deployed app.
func (c *Controller) Scale(ctx context.Context, target spec.AppEnv, replicas map[string]int) (spec.Deployment, error) {
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		return spec.Deployment{}, err
	}
	var unknown []string
	for name, n := range replicas {
		svc, ok := d.App.Service(name)
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		svc.Replicas = n
	}
	if len(unknown) > 0 {
		return spec.Deployment{}, fmt.Errorf("%w: %s has no service %s (services: %s)", spec.ErrInvalid, target, strings.Join(unknown, ", "), strings.Join(serviceNames(d.App), ", "))
	}
	if err := d.App.Validate(); err != nil {
		return spec.Deployment{}, err
	}
	d, err = c.Store.PutDeployment(ctx, d, d.Generation)
	if err != nil {
		return spec.Deployment{}, err
	}
	c.Agent.Nudge()
	return d, nil
}

// Down removes the deployment; the agent then drains and stops its
// instances. Named volumes are kept.
func (c *Controller) Down(ctx context.Context, target spec.AppEnv) error {
	if err := c.Store.DeleteDeployment(ctx, target); err != nil {
		return err
	}
	c.Agent.Nudge()
	return nil
}

// Status returns the status of deployments, optionally of one app or one
// app+environment, as of a pass that saw every write made before the call.
func (c *Controller) Status(ctx context.Context, app, env string) ([]spec.EnvStatus, error) {
	if err := c.Agent.WaitPass(ctx); err != nil {
		return nil, err
	}
	var out []spec.EnvStatus
	for _, s := range c.Agent.Status() {
		if (app == "" || s.AppEnv.App == app) && (env == "" || s.AppEnv.Env == env) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Deployments lists what is deployed.
func (c *Controller) Deployments(ctx context.Context) ([]spec.Deployment, error) {
	return c.Store.ListDeployments(ctx)
}

// Logs streams a service's log lines from the log store: every instance
// merged in time order, filtered, then new lines as they come with Follow.
func (c *Controller) Logs(ctx context.Context, q logs.Query, fn func(logs.Line) error) error {
	target := spec.AppEnv{App: q.App, Env: q.Env}
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		return err
	}
	if _, ok := d.App.Service(q.Service); !ok {
		return fmt.Errorf("%w: %s has no service %q (services: %s)", spec.ErrInvalid, target, q.Service, strings.Join(serviceNames(d.App), ", "))
	}
	return c.LogStore.Query(ctx, q, fn)
}

func serviceNames(app spec.App) []string {
	names := make([]string, 0, len(app.Services))
	for _, s := range app.Services {
		names = append(names, s.Name)
	}
	return names
}

// Instances lists what the driver runs for target (any state, deployed or
// not): what `haven down` waits on.
func (c *Controller) Instances(ctx context.Context, target spec.AppEnv) ([]spec.InstanceLabels, error) {
	all, err := c.Driver.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []spec.InstanceLabels
	for _, inst := range all {
		if inst.Labels.App == target.App && inst.Labels.Env == target.Env {
			out = append(out, inst.Labels)
		}
	}
	return out, nil
}
