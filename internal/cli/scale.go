package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newScaleCmd(g *globals) *cobra.Command {
	var (
		f appFlags
	)
	c := &cobra.Command{
		Use:     "scale SERVICE=N [SERVICE=N...]",
		Short:   "Set the number of replicas of services",
		Example: "  haven scale api=4 web=2",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			replicas := map[string]int{}
			for _, a := range args {
				name, n, ok := strings.Cut(a, "=")
				count, err := strconv.Atoi(n)
				if !ok || name == "" || err != nil || count < 0 {
					return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%q is not SERVICE=N with N a number of replicas (0 or more)", a)}
				}
				replicas[name] = count
			}
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			d, err := g.client().Scale(c.Context(), target, replicas)
			if err != nil {
				return err
			}
			if done, err := g.printData(d); done {
				return err
			}
			for name, n := range replicas {
				fmt.Fprintf(g.out(), "%s/%s scaled to %d\n", target, name, n)
			}
			return nil
		},
	}
	f.addTargetFlags(c)
	return c
}
