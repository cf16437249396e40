package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newRestartCmd(g *globals) *cobra.Command {
	var (
		f       appFlags
		wait    bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "restart [SERVICE...]",
		Short: "Replace every instance of services without downtime",
		Long: `Replace every instance of the services (default: all of the app's running
ones) with fresh ones of the same spec and image. Unlike docker compose's
restart, nothing stops first: the restart is a new revision of the same spec,
released with each service's release policy (rolling by default: a new
instance is healthy before an old one drains), so no request fails. A
service's migrate task, if it has one, runs again.

As with a deploy, the new instance starts beside the old one: a service that
cannot run twice at once (one holding a named volume's lock, like a database,
or a published host port) needs a release policy that stops first
(x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}).`,
		Example: "  haven restart api\n  haven restart",
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			target, err := f.target(ctx, g)
			if err != nil {
				return err
			}
			cl := g.client()
			services := args
			if len(services) == 0 {
				if services, err = runningServices(ctx, g, target); err != nil {
					return err
				}
			}
			for _, s := range services {
				rev, err := cl.Restart(ctx, target, s)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.errw(), "restarting %s: revision %d (%s)\n", s, rev.Number, rev.Hash)
			}
			if !wait {
				return nil
			}
			return g.waitReleases(ctx, cl, target, services, timeout)
		},
	}
	f.addTargetFlags(c)
	c.Flags().BoolVar(&wait, "wait", true, "wait until the releases finish")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return c
}
