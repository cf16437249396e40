package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newEnvCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "env", Short: "Environments: isolated copies of your apps (dev, staging, previews)"}
	var from string
	var withData bool
	var timeout time.Duration
	create := &cobra.Command{
		Use:   "create NAME --from ENV [--with-data]",
		Short: "Clone an environment's apps (and, with --with-data, a fresh copy of their volumes)",
		Long: `Deploy every app of --from into a new environment with its own network,
routes (hosts prefixed with "NAME."), secrets and roles. With --with-data the
apps' named volumes (databases) are copied first, their writers paused for the
copy. Waits until the new environment is healthy.`,
		Example: "  haven env create dev-2 --from staging --with-data",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl := g.client()
			env, err := cl.CreateEnv(c.Context(), args[0], from, withData)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.errw(), "environment %s created from %s in %s: %s\n", env.Name, from, env.Took.D().Round(time.Millisecond), strings.Join(env.Apps, ", "))
			for _, app := range env.Apps {
				ds, err := cl.Deployments(c.Context())
				if err != nil {
					return err
				}
				for _, d := range ds {
					if d.AppEnv.App == app && d.AppEnv.Env == env.Name {
						if err := g.waitReady(c.Context(), cl, d, timeout); err != nil {
							return err
						}
					}
				}
			}
			return nil
		},
	}
	create.Flags().StringVar(&from, "from", "", "environment to copy (required)")
	create.Flags().BoolVar(&withData, "with-data", false, "copy the apps' named volumes too")
	create.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for health")
	_ = create.MarkFlagRequired("from")
	list := &cobra.Command{
		Use: "list", Short: "List environments and their apps", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			envs, err := g.client().Envs(c.Context())
			if err != nil {
				return err
			}
			if done, err := g.printData(envs); done {
				return err
			}
			t := newTable(g.out(), "ENV", "APPS")
			for _, e := range envs {
				t.row(e.Name, strings.Join(e.Apps, ", "))
			}
			return t.flush()
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Take down every app of an environment (volumes and secrets are kept)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.client().DeleteEnv(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "environment %s is being taken down\n", args[0])
			return nil
		},
	}
	root.AddCommand(create, list, del)
	return root
}
