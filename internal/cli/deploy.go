package cli

import (
	"time"

	"github.com/spf13/cobra"
)

func newDeployCmd(g *globals) *cobra.Command {
	var (
		f       appFlags
		wait    bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy a compose app to a running server",
		Long: `Send a compose app to the server as the new desired state of its environment.
Changed services get new instances, which replace the old ones once healthy.
With --wait, wait until every service is healthy (exit 3 if it does not get there).`,
		Example: "  haven deploy -f compose.yaml --env prod --wait",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			app, err := f.load(ctx)
			if err != nil {
				return err
			}
			cl := g.client()
			resp, err := cl.Deploy(ctx, f.env, *app)
			if err != nil {
				return err
			}
			if done, err := g.printData(resp); done {
				return err
			}
			printChanges(g, resp.Deployment, resp.Changes)
			if !wait {
				return nil
			}
			return g.waitReady(ctx, cl, resp.Deployment, timeout)
		},
	}
	f.addFileFlags(c)
	c.Flags().BoolVar(&wait, "wait", false, "wait until every service is healthy")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait: how long to wait")
	return c
}
