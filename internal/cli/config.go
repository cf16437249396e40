package cli

import (
	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/compose"
)

func newConfigCmd(g *globals) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "config",
		Short: "Print the resolved compose file, as docker compose config does",
		Long: `Print the compose project as Haven reads it: files merged, variables and
.env interpolated, profiles applied, paths made absolute, x-haven kept. The
file is checked as deploy checks it first, so a file that would be refused
prints the same problems (file:line) and nothing else. Runs locally; no
server is needed.`,
		Example: "  haven config -f compose.yaml -f compose.prod.yaml",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			out, err := compose.Resolved(c.Context(), compose.Options{Files: f.files, ProjectName: f.name, Profiles: f.profiles})
			if err != nil {
				return &ExitError{Code: ExitInvalid, Err: err}
			}
			_, err = g.out().Write(out)
			return err
		},
	}
	f.addFileFlags(c)
	c.Flags().MarkHidden("env")
	return c
}
