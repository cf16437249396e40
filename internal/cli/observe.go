package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/metrics"
	"github.com/haven-platform/haven/internal/spec"
)

func newMetricsCmd(g *globals) *cobra.Command {
	var f appFlags
	var service string
	var since time.Duration
	c := &cobra.Command{
		Use:     "metrics NAME [--service S] [--since 15m]",
		Short:   "Show a metric's series (latest values, or samples over --since)",
		Example: "  haven metrics cpu_cores --service api --since 15m -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			series, err := g.client().Metrics(c.Context(), target, args[0], service, since)
			if err != nil {
				return err
			}
			if done, err := g.printData(series); done {
				return err
			}
			t := newTable(g.out(), "SERVICE", "INSTANCE", "SAMPLES", "LATEST", "MIN", "MAX")
			for _, s := range series {
				if len(s.Samples) == 0 {
					continue
				}
				lo, hi := s.Samples[0].Value, s.Samples[0].Value
				for _, p := range s.Samples {
					lo, hi = min(lo, p.Value), max(hi, p.Value)
				}
				t.row(orDash(s.Labels["service"]), orDash(s.Labels["instance"]), len(s.Samples), num(s.Samples[len(s.Samples)-1].Value), num(lo), num(hi))
			}
			return t.flush()
		},
	}
	f.addTargetFlags(c)
	c.Flags().StringVar(&service, "service", "", "only this service")
	c.Flags().DurationVar(&since, "since", 0, "samples over this long (default: the latest value)")
	return c
}

func num(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2fGi", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1fMi", v/(1<<20))
	}
	return fmt.Sprintf("%.3g", v)
}

func newTopCmd(g *globals) *cobra.Command {
	var f appFlags
	var once bool
	var every time.Duration
	c := &cobra.Command{
		Use:   "top",
		Short: "Live view of instances: CPU, memory, restarts",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			cl := g.client()
			for {
				if err := g.topOnce(c.Context(), cl, target); err != nil {
					return err
				}
				if once {
					return nil
				}
				select {
				case <-c.Context().Done():
					return nil
				case <-time.After(every):
				}
				fmt.Fprint(g.out(), "\033[H\033[2J") // clear the screen between frames
			}
		},
	}
	f.addTargetFlags(c)
	c.Flags().BoolVar(&once, "once", false, "print one frame and exit (for scripts)")
	c.Flags().DurationVar(&every, "every", 2*time.Second, "refresh interval")
	return c
}

// topOnce prints one frame: per instance, the latest CPU and memory.
func (g *globals) topOnce(ctx context.Context, cl *client.Client, target spec.AppEnv) error {
	latest := map[string]map[string]metrics.Series{} // metric → instance → series
	for _, name := range []string{"cpu_cores", "cpu_limit_ratio", "memory_bytes", "memory_limit_ratio", "restarts_10m"} {
		series, err := cl.Metrics(ctx, target, name, "", 0)
		if err != nil {
			continue // a metric not collected yet
		}
		latest[name] = map[string]metrics.Series{}
		for _, s := range series {
			latest[name][s.Labels["instance"]] = s
		}
	}
	sts, err := cl.Status(ctx, target.App, target.Env)
	if err != nil {
		return err
	}
	value := func(metric, instance string) string {
		s, ok := latest[metric][instance]
		if !ok || len(s.Samples) == 0 {
			return "-"
		}
		return num(s.Samples[len(s.Samples)-1].Value)
	}
	fmt.Fprintf(g.out(), "%s  %s\n", target, time.Now().Format("15:04:05"))
	t := newTable(g.out(), "SERVICE", "INSTANCE", "STATE", "CPU", "CPU/LIMIT", "MEMORY", "MEM/LIMIT")
	var rows [][]any
	for _, st := range sts {
		for _, s := range st.Services {
			for _, i := range s.Instances {
				rows = append(rows, []any{s.Name, i.ID, i.State, value("cpu_cores", i.ID), value("cpu_limit_ratio", i.ID), value("memory_bytes", i.ID), value("memory_limit_ratio", i.ID)})
			}
		}
	}
	sort.SliceStable(rows, func(a, b int) bool { return fmt.Sprint(rows[a][0]) < fmt.Sprint(rows[b][0]) })
	for _, r := range rows {
		t.row(r...)
	}
	return t.flush()
}

func newAlertsCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "alerts",
		Short: "Show alerts: pending, firing and recently resolved",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			list, err := g.client().Alerts(c.Context())
			if err != nil {
				return err
			}
			if done, err := g.printData(list); done {
				return err
			}
			t := newTable(g.out(), "RULE", "SERIES", "STATE", "VALUE", "SINCE", "SEVERITY", "SILENCED")
			for _, a := range list {
				t.row(a.Rule, a.Series(), a.State, num(a.Value), ago(a.ActiveSince), a.Severity, orDash(a.SilencedBy))
			}
			return t.flush()
		},
	}
	var env, comment string
	var match []string
	var d time.Duration
	silence := &cobra.Command{
		Use:     "silence --env ENV --match KEY=VALUE --for 1h",
		Short:   "Mute matching alerts of an environment for a while",
		Example: "  haven alerts silence --env prod --match service=api --match alertname=cpu-high --for 2h --comment 'load test'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m := map[string]string{}
			for _, kv := range match {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("--match %q must be KEY=VALUE", kv)}
				}
				m[k] = v
			}
			s, err := g.client().Silence(c.Context(), env, m, d, comment)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out(), "silence %s until %s\n", s.ID, s.Until.Local().Format(time.RFC1123))
			return nil
		},
	}
	silence.Flags().StringVar(&env, "env", spec.DefaultEnv, "environment")
	silence.Flags().StringArrayVar(&match, "match", nil, "KEY=VALUE the alert's labels must have (repeatable; alertname=RULE matches a rule)")
	silence.Flags().DurationVar(&d, "for", time.Hour, "how long")
	silence.Flags().StringVar(&comment, "comment", "", "why")
	root.AddCommand(silence)
	return root
}
