package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/spec"
)

func newStopCmd(g *globals) *cobra.Command {
	return stopStartCmd(g, "stop", "Scale services to 0, remembering their replica counts for `haven start`",
		func(ctx context.Context, cl *client.Client, t spec.AppEnv, s string) (api.ServiceReplicas, error) {
			return cl.StopService(ctx, t, s)
		})
}

func newStartCmd(g *globals) *cobra.Command {
	return stopStartCmd(g, "start", "Give services stopped with `haven stop` their replica counts back",
		func(ctx context.Context, cl *client.Client, t spec.AppEnv, s string) (api.ServiceReplicas, error) {
			return cl.StartService(ctx, t, s)
		})
}

// stopStartCmd is stop or start: one call per service, all of the app's
// services when none is named.
func stopStartCmd(g *globals, verb, short string, call func(context.Context, *client.Client, spec.AppEnv, string) (api.ServiceReplicas, error)) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   verb + " [SERVICE...]",
		Short: short,
		Long: short + `.
A stopped service keeps its deployment, volumes and routes; its instances drain
and stop (requests in flight finish). A deploy sets every count from the
compose file again.`,
		Example: fmt.Sprintf("  haven %s worker\n  haven %s", verb, verb),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			target, err := f.target(ctx, g)
			if err != nil {
				return err
			}
			cl := g.client()
			services := args
			if len(services) == 0 {
				if services, err = allServices(ctx, cl, target); err != nil {
					return err
				}
			}
			var out []api.ServiceReplicas
			for _, s := range services {
				r, err := call(ctx, cl, target, s)
				if err != nil {
					return err
				}
				out = append(out, r)
			}
			if done, err := g.printData(out); done {
				return err
			}
			for _, r := range out {
				switch {
				case !r.Changed && verb == "stop":
					fmt.Fprintf(g.out(), "%s/%s was stopped already\n", target, r.Service)
				case !r.Changed:
					fmt.Fprintf(g.out(), "%s/%s runs already (%d replicas)\n", target, r.Service, r.Replicas)
				case verb == "stop":
					fmt.Fprintf(g.out(), "%s/%s stopped\n", target, r.Service)
				default:
					fmt.Fprintf(g.out(), "%s/%s started (%d replicas)\n", target, r.Service, r.Replicas)
				}
			}
			return nil
		},
	}
	f.addTargetFlags(c)
	return c
}

// allServices lists the deployed app's services.
func allServices(ctx context.Context, cl *client.Client, target spec.AppEnv) ([]string, error) {
	ds, err := cl.Deployments(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.AppEnv == target {
			return serviceNamesOf(d.App), nil
		}
	}
	return nil, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%s is not deployed (see `haven status`)", target)}
}

// runningServices lists the deployed app's services that have replicas.
func runningServices(ctx context.Context, g *globals, target spec.AppEnv) ([]string, error) {
	ds, err := g.client().Deployments(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.AppEnv != target {
			continue
		}
		var names []string
		for _, s := range d.App.Services {
			if s.Replicas > 0 {
				names = append(names, s.Name)
			}
		}
		return names, nil
	}
	return nil, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%s is not deployed (see `haven status`)", target)}
}

func serviceNamesOf(app spec.App) []string {
	names := make([]string, 0, len(app.Services))
	for _, s := range app.Services {
		names = append(names, s.Name)
	}
	return names
}
