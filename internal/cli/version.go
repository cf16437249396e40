package cli

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/api"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the client's and, if one answers, the server's version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			out := struct {
				Client api.Version  `json:"client"`
				Server *api.Version `json:"server,omitempty"`
			}{Client: api.Version{Version: g.deps.Version, GoVersion: runtime.Version()}}
			ctx, cancel := context.WithTimeout(c.Context(), 2*time.Second)
			defer cancel()
			if v, err := g.client().Version(ctx); err == nil {
				out.Server = &v
			}
			if done, err := g.printData(out); done {
				return err
			}
			fmt.Fprintf(g.out(), "client: haven %s (%s)\n", out.Client.Version, out.Client.GoVersion)
			if out.Server != nil {
				fmt.Fprintf(g.out(), "server: haven %s (%s), driver %s, ingress %s\n", out.Server.Version, out.Server.GoVersion, out.Server.Driver, out.Server.Ingress)
			} else {
				fmt.Fprintln(g.out(), "server: not running")
			}
			return nil
		},
	}
}
