package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/api"
)

func newDeployCmd(g *globals) *cobra.Command {
	var (
		f       appFlags
		images  []string
		wait    bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy a compose app (or a new image of one service) to a running server",
		Long: `Send a compose app to the server as the new desired state of its environment,
or, with --image SERVICE=IMAGE[:TAG], change just that service's image (the CI
entry point). Each changed service is released with its strategy
(x-haven.release: rolling, blue-green or canary). With --wait, follow the
releases: exit 0 when they succeed, 6 when one was rolled back, 3 when one
failed or the timeout passed.`,
		Example: "  haven deploy -f compose.yaml --env prod --wait\n  haven deploy --image api=registry.local/api:1.4.2 --env prod --wait",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			cl := g.client()
			var resp api.DeployResponse
			if len(images) > 0 {
				target, err := f.target(ctx, g)
				if err != nil {
					return err
				}
				for _, spec := range images {
					service, image, ok := strings.Cut(spec, "=")
					if !ok || service == "" || image == "" {
						return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("--image %q must be SERVICE=IMAGE[:TAG]", spec)}
					}
					if resp, err = cl.SetImage(ctx, target, service, image); err != nil {
						return err
					}
				}
			} else {
				a, err := f.loadWarning(c)
				if err != nil {
					return err
				}
				if resp, err = cl.Deploy(ctx, f.env, *a); err != nil {
					return err
				}
			}
			if done, err := g.printData(resp); done {
				return err
			}
			printChanges(g, resp.Deployment, resp.Changes)
			if !wait {
				return nil
			}
			var changed []string
			for _, ch := range resp.Changes {
				if ch.Kind == "added" || ch.Kind == "updated" {
					changed = append(changed, ch.Service)
				}
			}
			if len(changed) > 0 {
				if err := g.waitReleases(ctx, cl, resp.Deployment.AppEnv, changed, timeout); err != nil {
					return err
				}
			}
			return g.waitReady(ctx, cl, resp.Deployment, timeout)
		},
	}
	f.addFileFlags(c)
	c.Flags().StringVar(&f.app, "app", "", "with --image: the app (default: the only app deployed in --env)")
	c.Flags().StringArrayVar(&images, "image", nil, "SERVICE=IMAGE[:TAG]: release a new image of one service (repeatable)")
	c.Flags().BoolVar(&wait, "wait", false, "follow the releases until they finish; the exit code says how")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait: how long to wait")
	return c
}
