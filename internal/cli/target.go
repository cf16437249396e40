package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/compose"
	"github.com/haven-platform/haven/internal/spec"
)

// appFlags select a compose file (for up, deploy, validate) or a deployed
// app (for logs, scale, down).
type appFlags struct {
	// app names a deployed app for commands that act on one ("" = the only
	// app deployed in env); see target.
	app      string
	files    []string
	name     string
	profiles []string
	env      string
}

func (f *appFlags) addFileFlags(c *cobra.Command) {
	c.Flags().StringArrayVarP(&f.files, "file", "f", nil, "compose file (repeat to merge; default compose.yaml / docker-compose.yml in the current directory)")
	c.Flags().StringVar(&f.name, "name", "", "app name (default: the compose file's name: or its directory)")
	c.Flags().StringArrayVar(&f.profiles, "profile", nil, "compose profile to enable (repeatable)")
	f.addEnvFlag(c)
}

func (f *appFlags) addEnvFlag(c *cobra.Command) {
	c.Flags().StringVar(&f.env, "env", spec.DefaultEnv, "environment to act on")
}

// addTargetFlags adds --env and --app, for commands acting on a deployed app.
func (f *appFlags) addTargetFlags(c *cobra.Command) {
	f.addEnvFlag(c)
	c.Flags().StringVar(&f.app, "app", "", "app (default: the only app deployed in --env)")
}

// target resolves the deployed app the flags name.
func (f *appFlags) target(ctx context.Context, g *globals) (spec.AppEnv, error) {
	return g.resolveTarget(ctx, f.app, f.env)
}

// load reads and validates the compose file(s).
func (f *appFlags) load(ctx context.Context) (*spec.App, error) {
	app, err := compose.Load(ctx, compose.Options{Files: f.files, ProjectName: f.name, Profiles: f.profiles})
	if err != nil {
		return nil, &ExitError{Code: ExitInvalid, Err: err}
	}
	return app, nil
}

// resolveTarget finds the app a command acts on: --app, else the only app
// deployed in the environment.
func (g *globals) resolveTarget(ctx context.Context, app, env string) (spec.AppEnv, error) {
	if app != "" {
		return spec.AppEnv{App: app, Env: env}, nil
	}
	ds, err := g.client().Deployments(ctx)
	if err != nil {
		return spec.AppEnv{}, err
	}
	var names []string
	for _, d := range ds {
		if d.AppEnv.Env == env {
			names = append(names, d.AppEnv.App)
		}
	}
	sort.Strings(names)
	switch len(names) {
	case 1:
		return spec.AppEnv{App: names[0], Env: env}, nil
	case 0:
		return spec.AppEnv{}, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("nothing is deployed in environment %q; deploy with `haven up` or pass --env", env)}
	}
	return spec.AppEnv{}, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("several apps are deployed in environment %q (%s); pass --app", env, strings.Join(names, ", "))}
}
