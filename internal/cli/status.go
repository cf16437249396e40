package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/spec"
)

func newStatusCmd(g *globals) *cobra.Command {
	var app, env string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show each service's condition, health and routes",
		Long:  "Show each deployed service's condition (ready, converging, waiting, crash-looping, completed, failed).",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sts, err := g.client().Status(c.Context(), app, env)
			if err != nil {
				return err
			}
			if done, err := g.printData(sts); done {
				return err
			}
			t := newTable(g.out(), "APP", "ENV", "SERVICE", "CONDITION", "HEALTHY", "REVISION", "ROUTES", "MESSAGE")
			for _, st := range sts {
				for _, s := range st.Services {
					t.row(st.AppEnv.App, st.AppEnv.Env, s.Name, s.Condition, fmt.Sprintf("%d/%d", s.Healthy, s.Desired),
						s.Revision, orDash(strings.Join(s.Routes, ", ")), orDash(s.Message))
				}
			}
			if err := t.flush(); err != nil {
				return err
			}
			for _, st := range sts {
				for _, s := range st.Services {
					if s.Condition == spec.ServiceCrashLooping && len(s.LastLogs) > 0 {
						fmt.Fprintf(g.out(), "\n%s/%s last log lines:\n", cell(st.AppEnv.String()), cell(s.Name))
						for _, l := range s.LastLogs {
							fmt.Fprintf(g.out(), "  | %s\n", cell(l))
						}
					}
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&app, "app", "", "only this app")
	c.Flags().StringVar(&env, "env", "", "only this environment")
	return c
}
