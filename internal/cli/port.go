package cli

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"
)

func newPortCmd(g *globals) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use:   "port SERVICE PORT",
		Short: "Print where a service's container port is reachable",
		Long: `Print the host address a container port is published on (compose ports:),
one per line, as docker compose port does. A port that is not published but
routed is reached through the ingress: its routes are printed with the
ingress's address, and say so. Otherwise each running instance's own
address is printed: reachable from the server's machine only, and changing
with every replacement.`,
		Example: "  haven port db 5432\n  haven port api 8080",
		Args:    cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			port, err := strconv.Atoi(args[1])
			if err != nil || port < 1 || port > 65535 {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%q is not a container port number (1-65535)", args[1])}
			}
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			info, err := g.client().Port(c.Context(), target, args[0], port)
			if err != nil {
				return err
			}
			if done, err := g.printData(info); done {
				return err
			}
			switch {
			case len(info.Published) > 0:
				for _, a := range info.Published {
					fmt.Fprintln(g.out(), cell(a))
				}
			case len(info.Routes) > 0:
				for _, r := range info.Routes {
					fmt.Fprintf(g.out(), "%s (ingress route, served by the ingress on %s)\n", cell(r), cell(info.Ingress))
				}
			case len(info.Instances) > 0:
				ids := make([]string, 0, len(info.Instances))
				for id := range info.Instances {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				fmt.Fprintf(g.errw(), "%s port %d is not published: each instance's address, reachable from the server's machine only\n", args[0], port)
				for _, id := range ids {
					fmt.Fprintf(g.out(), "%s %s\n", cell(info.Instances[id]), cell(id))
				}
			default:
				return &ExitError{Code: ExitNotReady, Err: fmt.Errorf("%s port %d is neither published nor routed, and no instance runs (see `haven ps`)", args[0], port)}
			}
			return nil
		},
	}
	f.addTargetFlags(c)
	return c
}
