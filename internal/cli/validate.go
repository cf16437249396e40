package cli

import (
	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a compose file and print the app Haven would deploy",
		Long:  "Load and check a compose file without a server. Prints the normalized app (YAML by default, -o json), or every problem with its file:line and exits 2.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			app, err := f.load(c.Context())
			if err != nil {
				return err
			}
			g.warnCompose(app)
			if g.output == "table" {
				g.output = "yaml"
			}
			_, err = g.printData(app)
			return err
		},
	}
	f.addFileFlags(c)
	return c
}
