package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/logs"
)

func newLogsCmd(g *globals) *cobra.Command {
	var (
		f        appFlags
		follow   bool
		since    time.Duration
		tail     int
		instance string
		grep     string
		fields   []string
	)
	c := &cobra.Command{
		Use:     "logs SERVICE",
		Short:   "Show a service's logs, all instances merged in time order (kept across restarts and replacements)",
		Example: "  haven logs api --since 10m\n  haven logs api -f\n  haven logs api --grep timeout --field level=error",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			target, err := f.target(ctx, g)
			if err != nil {
				return err
			}
			opts := client.LogOptions{Follow: follow, Tail: tail, Instance: instance, Grep: grep, Fields: fields}
			if since > 0 {
				opts.Since = time.Now().Add(-since)
			}
			return g.client().Logs(ctx, target, args[0], opts, func(l logs.Line) error {
				if g.output == "json" {
					_, err := g.printData(l)
					return err
				}
				_, err := fmt.Fprintf(g.out(), "%s %s %s\n", l.Time.Local().Format("15:04:05.000"), l.Instance, l.Text)
				return err
			})
		},
	}
	f.addTargetFlags(c)
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	c.Flags().DurationVar(&since, "since", 0, "only lines from this long ago (e.g. 10m)")
	c.Flags().IntVar(&tail, "tail", 0, "only the last N lines")
	c.Flags().StringVar(&instance, "instance", "", "only this instance")
	c.Flags().StringVar(&grep, "grep", "", "only lines matching this regular expression")
	c.Flags().StringArrayVar(&fields, "field", nil, "only JSON lines with KEY=VALUE (repeatable), e.g. level=error")
	return c
}
