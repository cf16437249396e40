package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/spec"
)

// psRow is one instance in `haven ps -o json`.
type psRow struct {
	App string `json:"app"`
	Env string `json:"env"`
	spec.InstanceStatus
}

func newPsCmd(g *globals) *cobra.Command {
	var app, env string
	c := &cobra.Command{
		Use:   "ps",
		Short: "List instances",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sts, err := g.client().Status(c.Context(), app, env)
			if err != nil {
				return err
			}
			rows := []psRow{}
			for _, st := range sts {
				for _, s := range st.Services {
					for _, i := range s.Instances {
						rows = append(rows, psRow{App: st.AppEnv.App, Env: st.AppEnv.Env, InstanceStatus: i})
					}
				}
			}
			if done, err := g.printData(rows); done {
				return err
			}
			t := newTable(g.out(), "APP", "ENV", "SERVICE", "INSTANCE", "STATE", "REVISION", "ADDRESS", "AGE")
			for _, r := range rows {
				state := string(r.State)
				if r.State == spec.StateExited {
					state = fmt.Sprintf("exited (%d)", r.ExitCode)
				}
				t.row(r.App, r.Env, r.Service, r.ID, state, r.Revision, orDash(r.Addr), ago(r.StartedAt))
			}
			return t.flush()
		},
	}
	c.Flags().StringVar(&app, "app", "", "only this app")
	c.Flags().StringVar(&env, "env", "", "only this environment")
	return c
}
