package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// The compose habits: exec, restart, stop, start, images, port. Each is a
// small use case over the same store and driver as deploy and scale.

// ExecTarget is a running instance a command can be run in, resolved
// before anything is run so that a wrong name is answered plainly.
type ExecTarget struct {
	// Instance names the instance.
	Instance spec.InstanceLabels
	id       string
	execer   driver.Execer
}

// Run runs req in the instance and returns the command's exit status.
func (t ExecTarget) Run(ctx context.Context, req driver.ExecRequest) (int, error) {
	return t.execer.Exec(ctx, t.id, req)
}

// ExecTarget finds the running instance of service in target that a
// command should run in. The instance must belong to target: the
// environment in the request is the one the caller was authorized for.
func (c *Controller) ExecTarget(ctx context.Context, target spec.AppEnv, service, instance string) (ExecTarget, error) {
	if _, err := c.service(ctx, target, service); err != nil {
		return ExecTarget{}, err
	}
	ex, ok := driver.ExecerOf(c.Driver)
	if !ok {
		return ExecTarget{}, fmt.Errorf("%w: the %s driver cannot run commands in instances", spec.ErrInvalid, c.Driver.Name())
	}
	all, err := c.Driver.List(ctx)
	if err != nil {
		return ExecTarget{}, err
	}
	var running []string
	for _, inst := range all {
		l := inst.Labels
		if l.App != target.App || l.Env != target.Env || l.Service != service || !inst.Running {
			continue
		}
		if l.Instance == instance {
			return ExecTarget{Instance: l, id: inst.ID, execer: ex}, nil
		}
		running = append(running, l.Instance)
	}
	sort.Strings(running)
	have := "it has no running instance"
	if len(running) > 0 {
		have = "its running instances are " + strings.Join(running, ", ")
	}
	return ExecTarget{}, fmt.Errorf("service %s of %s has no running instance %q (%s; see `haven ps`): %w", service, target, instance, have, driver.ErrNotFound)
}

// service returns the deployment of target and checks it has service.
func (c *Controller) service(ctx context.Context, target spec.AppEnv, service string) (spec.Deployment, error) {
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		return spec.Deployment{}, err
	}
	if _, ok := d.App.Service(service); !ok {
		return spec.Deployment{}, fmt.Errorf("%w: %s has no service %q (services: %s)", spec.ErrInvalid, target, service, strings.Join(serviceNames(d.App), ", "))
	}
	return d, nil
}

// Restart replaces every instance of a service without downtime: it makes
// a new revision of the same spec (spec.Service.RestartGeneration), which
// the agent releases with the service's release policy, as it would a
// deploy. A service with a release in progress is refused, as a deploy
// would be.
func (c *Controller) Restart(ctx context.Context, target spec.AppEnv, service string) (spec.Revision, error) {
	d, err := c.service(ctx, target, service)
	if err != nil {
		return spec.Revision{}, err
	}
	svc, _ := d.App.Service(service)
	if svc.Replicas == 0 {
		return spec.Revision{}, fmt.Errorf("%w: service %s runs no replicas, so there is nothing to restart; start it with `haven start %s`", spec.ErrInvalid, service, service)
	}
	rel, err := c.Store.LatestRelease(ctx, target, service)
	switch {
	case err == nil && !rel.Phase.Final():
		return spec.Revision{}, fmt.Errorf("service %s: release %d (revision %d → %d, %s) is in progress; wait for it (`haven release status`) and restart then: %w",
			service, rel.ID, rel.FromNumber, rel.ToNumber, rel.Phase, store.ErrConflict)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return spec.Revision{}, err
	}
	svc.RestartGeneration++
	rev, err := c.Store.RecordRevision(ctx, target, *svc, "restart")
	if err != nil {
		return spec.Revision{}, err
	}
	if _, err := c.Store.PutDeployment(ctx, d, d.Generation); err != nil {
		return spec.Revision{}, err
	}
	c.Agent.Nudge()
	return rev, nil
}

// carryRestarts gives each service of app the restart generation it has in
// the previous deployment: a restart is not part of the compose file, and
// redeploying an unchanged file must not restart anything.
func carryRestarts(previous *spec.Deployment, app *spec.App) {
	if previous == nil {
		return
	}
	for i := range app.Services {
		if old, ok := previous.App.Service(app.Services[i].Name); ok && app.Services[i].RestartGeneration == 0 {
			app.Services[i].RestartGeneration = old.RestartGeneration
		}
	}
}

// Stop scales a service to 0, keeping its replica count in the deployment
// for Start. It reports false when the service was stopped already.
func (c *Controller) Stop(ctx context.Context, target spec.AppEnv, service string) (spec.Deployment, bool, error) {
	d, err := c.service(ctx, target, service)
	if err != nil {
		return spec.Deployment{}, false, err
	}
	svc, _ := d.App.Service(service)
	if svc.Replicas == 0 {
		return d, false, nil
	}
	if d.Stopped == nil {
		d.Stopped = map[string]int{}
	}
	d.Stopped[service], svc.Replicas = svc.Replicas, 0
	d, err = c.Store.PutDeployment(ctx, d, d.Generation)
	if err != nil {
		return spec.Deployment{}, false, err
	}
	c.Agent.Nudge()
	return d, true, nil
}

// Start gives a stopped service back the replica count it had before Stop.
// It reports false when the service runs already (a count kept by Stop is
// then forgotten: the service was scaled since).
func (c *Controller) Start(ctx context.Context, target spec.AppEnv, service string) (spec.Deployment, bool, error) {
	d, err := c.service(ctx, target, service)
	if err != nil {
		return spec.Deployment{}, false, err
	}
	svc, _ := d.App.Service(service)
	n, kept := d.Stopped[service]
	if svc.Replicas > 0 && !kept {
		return d, false, nil
	}
	delete(d.Stopped, service)
	started := svc.Replicas == 0
	if started {
		if !kept || n <= 0 {
			return spec.Deployment{}, false, fmt.Errorf("%w: service %s runs 0 replicas and was not stopped with `haven stop`, so there is no count to go back to; use `haven scale %s=N`", spec.ErrInvalid, service, service)
		}
		svc.Replicas = n
	}
	if err := d.App.Validate(); err != nil {
		return spec.Deployment{}, false, err
	}
	d, err = c.Store.PutDeployment(ctx, d, d.Generation)
	if err != nil {
		return spec.Deployment{}, false, err
	}
	c.Agent.Nudge()
	return d, started, nil
}

// ImageInfo is one image an app runs (`haven images`).
type ImageInfo struct {
	Service  string `json:"service"`
	Revision string `json:"revision"`
	// Image is the reference the service names ("" for the process
	// driver's host commands); ImageID its content identity.
	Image   string `json:"image,omitempty"`
	ImageID string `json:"image_id,omitempty"`
	// Size is the image's size in bytes (0: unknown).
	Size int64 `json:"size,omitempty"`
	// Instances is how many running instances use it.
	Instances int `json:"instances"`
}

// Images lists the images of target's running instances, one row per
// service and revision (two during a release), sorted by service.
func (c *Controller) Images(ctx context.Context, target spec.AppEnv) ([]ImageInfo, error) {
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		return nil, err
	}
	all, err := c.Driver.List(ctx)
	if err != nil {
		return nil, err
	}
	type key struct{ service, revision string }
	counts := map[key]int{}
	for _, inst := range all {
		l := inst.Labels
		if l.App == target.App && l.Env == target.Env && inst.Running {
			counts[key{l.Service, l.Revision}]++
		}
	}
	sizer, _ := driver.ImageSizerOf(c.Driver)
	var out []ImageInfo
	for k, n := range counts {
		info := ImageInfo{Service: k.service, Revision: k.revision, Instances: n}
		if s, ok := c.revisionSpec(ctx, d, target, k.service, k.revision); ok {
			info.Image, info.ImageID = s.Image, s.ImageID
		}
		if sizer != nil && (info.ImageID != "" || info.Image != "") {
			ref := info.ImageID
			if ref == "" {
				ref = info.Image
			}
			if size, err := sizer.ImageSize(ctx, ref); err == nil {
				info.Size = size
			}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Revision < out[j].Revision
	})
	return out, nil
}

// revisionSpec returns the spec of one revision of a service: the
// deployment's own when it is the desired one, else the history's.
func (c *Controller) revisionSpec(ctx context.Context, d spec.Deployment, target spec.AppEnv, service, revision string) (spec.Service, bool) {
	if svc, ok := d.App.Service(service); ok && svc.Revision() == revision {
		return *svc, true
	}
	revs, err := c.Store.Revisions(ctx, target, service)
	if err != nil {
		return spec.Service{}, false
	}
	for _, r := range revs {
		if r.Hash == revision {
			return r.Spec, true
		}
	}
	return spec.Service{}, false
}

// PortInfo says where a service's container port can be reached
// (`haven port`).
type PortInfo struct {
	Service string `json:"service"`
	Port    int    `json:"port"`
	// Published are the host addresses (host:port) the port is published
	// on with compose `ports:`, on every interface when the host IP is
	// 0.0.0.0.
	Published []string `json:"published,omitempty"`
	// Routes are the ingress routes (host/path, * for any host) that send
	// requests to the port; Ingress is the ingress's address.
	Routes  []string `json:"routes,omitempty"`
	Ingress string   `json:"ingress,omitempty"`
	// Instances maps each running instance to the address its port has
	// on the server's machine (not published: reachable from that machine
	// only, and changing with every replacement).
	Instances map[string]string `json:"instances,omitempty"`
}

// Port says where a container port of a service is reachable: published
// host ports, ingress routes, and each running instance's own address.
func (c *Controller) Port(ctx context.Context, target spec.AppEnv, service string, port int) (PortInfo, error) {
	d, err := c.service(ctx, target, service)
	if err != nil {
		return PortInfo{}, err
	}
	svc, _ := d.App.Service(service)
	info := PortInfo{Service: service, Port: port}
	declared := map[int]bool{}
	for _, p := range svc.Ports {
		declared[p.Target] = true
		if p.Target == port {
			host := p.HostIP
			if host == "" {
				host = "0.0.0.0"
			}
			info.Published = append(info.Published, net.JoinHostPort(host, strconv.Itoa(p.Published)))
		}
	}
	for _, r := range svc.Routes {
		declared[r.Port] = true
		if r.Port == port {
			info.Routes = append(info.Routes, claimName(r))
		}
	}
	for _, p := range svc.Expose {
		declared[p] = true
	}
	all, err := c.Driver.List(ctx)
	if err != nil {
		return PortInfo{}, err
	}
	for _, inst := range all {
		l := inst.Labels
		if l.App != target.App || l.Env != target.Env || l.Service != service || !inst.Running || l.Role != "" {
			continue
		}
		for p := range inst.Addrs {
			declared[p] = true
		}
		if a := inst.Addr(port); a != "" {
			if info.Instances == nil {
				info.Instances = map[string]string{}
			}
			info.Instances[l.Instance] = a
		}
	}
	if !declared[port] {
		var ports []string
		for p := range declared {
			ports = append(ports, strconv.Itoa(p))
		}
		sort.Strings(ports)
		known := "none"
		if len(ports) > 0 {
			known = strings.Join(ports, ", ")
		}
		return PortInfo{}, fmt.Errorf("%w: service %s does not use container port %d (its ports, expose, routes and health check use: %s)", spec.ErrInvalid, service, port, known)
	}
	return info, nil
}
