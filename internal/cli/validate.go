package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/compose"
	"github.com/haven-platform/haven/internal/spec"
)

// loadWarning reads and validates the compose file(s) like load, and
// prints the loader's warnings (keys accepted that change nothing under
// Haven) on stderr, one "warning: file:line:col: …" a line, so stdout
// stays the command's data.
func (f *appFlags) loadWarning(c *cobra.Command) (*spec.App, error) {
	r, err := compose.LoadResult(c.Context(), compose.Options{Files: f.files, ProjectName: f.name, Profiles: f.profiles})
	if err != nil {
		return nil, &ExitError{Code: ExitInvalid, Err: err}
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(c.ErrOrStderr(), "warning: %s\n", w)
	}
	return r.App, nil
}

func newValidateCmd(g *globals) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a compose file and print the app Haven would deploy",
		Long:  "Load and check a compose file without a server. Prints the normalized app (YAML by default, -o json), or every problem with its file:line and exits 2.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			app, err := f.loadWarning(c)
			if err != nil {
				return err
			}
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
