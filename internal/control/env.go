package control

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// Environment is one environment and the apps deployed in it.
type Environment struct {
	Name string   `json:"name"`
	Apps []string `json:"apps"`
	// Took is how long a create took (set by CreateEnv).
	Took spec.Duration `json:"took,omitempty"`
}

// Environments lists every environment that has at least one app.
func (c *Controller) Environments(ctx context.Context) ([]Environment, error) {
	ds, err := c.Store.ListDeployments(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string][]string{}
	for _, d := range ds {
		byName[d.AppEnv.Env] = append(byName[d.AppEnv.Env], d.AppEnv.App)
	}
	out := make([]Environment, 0, len(byName))
	for name, apps := range byName {
		sort.Strings(apps)
		out = append(out, Environment{Name: name, Apps: apps})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateEnv makes environment name a copy of from: every app deployed there
// is deployed in name too, with its routes' hosts prefixed by "<name>." so
// both environments keep serving, and without published host ports (a
// clone is reached through the ingress). With withData, each app's named
// volumes are first copied (writers paused for the copy), so the new
// environment starts on a fresh copy of the source's data.
func (c *Controller) CreateEnv(ctx context.Context, name, from string, withData bool) (Environment, error) {
	start := time.Now()
	if !spec.ValidName(name) {
		return Environment{}, fmt.Errorf("%w: environment name %q must be a lowercase DNS label (a-z, 0-9, '-')", spec.ErrInvalid, name)
	}
	ds, err := c.Store.ListDeployments(ctx)
	if err != nil {
		return Environment{}, err
	}
	var sources []spec.Deployment
	for _, d := range ds {
		switch d.AppEnv.Env {
		case name:
			return Environment{}, fmt.Errorf("%w: environment %s already exists (app %s is deployed there); delete it first or choose another name", spec.ErrInvalid, name, d.AppEnv.App)
		case from:
			sources = append(sources, d)
		}
	}
	if len(sources) == 0 {
		return Environment{}, fmt.Errorf("%w: environment %q has no apps to copy (see `haven env list`)", spec.ErrInvalid, from)
	}
	copier, canCopy := driver.CopierOf(c.Driver)
	if withData && !canCopy {
		return Environment{}, fmt.Errorf("%w: the %s driver cannot copy volumes; create the environment without --with-data", spec.ErrInvalid, c.Driver.Name())
	}
	env := Environment{Name: name}
	for _, src := range sources {
		app := cloneForEnv(src.App, name)
		if withData && len(app.Volumes) > 0 {
			var vols []string
			for _, v := range app.Volumes {
				vols = append(vols, v.Name)
			}
			if err := copier.CopyVolumes(ctx, src.AppEnv, spec.AppEnv{App: app.Name, Env: name}, vols); err != nil {
				return env, fmt.Errorf("copy data of %s: %w", src.AppEnv, err)
			}
		}
		if _, _, err := c.Deploy(ctx, name, app); err != nil {
			return env, fmt.Errorf("deploy %s in %s: %w", app.Name, name, err)
		}
		env.Apps = append(env.Apps, app.Name)
	}
	env.Took = spec.Duration(time.Since(start))
	return env, nil
}

// cloneForEnv returns a copy of app fit to run beside the original in env.
func cloneForEnv(app spec.App, env string) spec.App {
	out := app
	out.Services = make([]spec.Service, len(app.Services))
	for i, s := range app.Services {
		s.Ports = nil
		s.ImageID = ""
		routes := make([]spec.Route, len(s.Routes))
		for j, r := range s.Routes {
			if r.Host == "" {
				r.Host = app.Name + ".localhost"
			}
			r.Host = env + "." + r.Host
			routes[j] = r
		}
		s.Routes = routes
		out.Services[i] = s
	}
	return out
}

// DeleteEnv takes down every app of an environment. Volumes and secrets
// are kept, as after `haven down`.
func (c *Controller) DeleteEnv(ctx context.Context, name string) error {
	ds, err := c.Store.ListDeployments(ctx)
	if err != nil {
		return err
	}
	var errs []error
	found := false
	for _, d := range ds {
		if d.AppEnv.Env == name {
			found = true
			errs = append(errs, c.Down(ctx, d.AppEnv))
		}
	}
	if !found {
		return fmt.Errorf("environment %s has no apps: %w", name, store.ErrNotFound)
	}
	return errors.Join(errs...)
}

// externalSecrets checks that every external secret the app uses is set in
// env, naming the command that sets the missing ones.
func (c *Controller) externalSecrets(ctx context.Context, env string, app spec.App) error {
	var wanted []string
	for name, s := range app.Secrets {
		if s.External {
			wanted = append(wanted, name)
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	if c.Secrets == nil {
		return fmt.Errorf("%w: app %s uses external secrets, but this server has no secret store", spec.ErrInvalid, app.Name)
	}
	have, err := c.Secrets.List(ctx, env)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	for _, s := range have {
		set[s.Name] = true
	}
	sort.Strings(wanted)
	var missing []string
	for _, name := range wanted {
		if !set[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: external secret(s) %s not set in environment %s; set each with `haven secret set NAME --env %s < value-file`", spec.ErrInvalid, strings.Join(missing, ", "), env, env)
	}
	return nil
}
