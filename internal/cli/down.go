package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newDownCmd(g *globals) *cobra.Command {
	var (
		f       appFlags
		detach  bool
		timeout time.Duration
	)
	c := &cobra.Command{
		Use:   "down",
		Short: "Take an app down: drain and stop its instances (named volumes are kept)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if f.app == "" && len(f.files) > 0 {
				a, err := f.load(ctx)
				if err != nil {
					return err
				}
				f.app = a.Name
			}
			target, err := f.target(ctx, g)
			if err != nil {
				return err
			}
			cl := g.client()
			if err := cl.Down(ctx, target); err != nil {
				return err
			}
			fmt.Fprintf(g.errw(), "Taking %s down\n", target)
			if detach {
				return nil
			}
			deadline := time.Now().Add(timeout)
			for time.Now().Before(deadline) {
				n, err := cl.Instances(ctx, target)
				if err != nil {
					return err
				}
				if n == 0 {
					fmt.Fprintf(g.errw(), "%s is down\n", target)
					return nil
				}
				time.Sleep(200 * time.Millisecond)
			}
			return &ExitError{Code: ExitNotReady, Err: fmt.Errorf("%s still has instances after %s; see `haven ps`", target, timeout)}
		},
	}
	c.Flags().StringArrayVarP(&f.files, "file", "f", nil, "compose file naming the app")
	f.addEnvFlag(c)
	c.Flags().StringVar(&f.app, "app", "", "app (default: the app of -f, or the only app deployed in --env)")
	c.Flags().BoolVarP(&detach, "detach", "d", false, "return without waiting for the instances to stop")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the instances to stop")
	return c
}
