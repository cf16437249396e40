package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/spec"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var f appFlags
	c := &cobra.Command{
		Use: "history SERVICE", Short: "List a service's revisions", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			revs, err := g.client().Revisions(c.Context(), target, args[0])
			if err != nil {
				return err
			}
			if done, err := g.printData(revs); done {
				return err
			}
			serving := ""
			if rels, err := g.client().Releases(c.Context(), target, args[0], 1); err == nil && len(rels) == 1 {
				serving = rels[0].To
				if rels[0].Phase == spec.PhaseRolledBack {
					serving = rels[0].From
				}
			}
			t := newTable(g.out(), "REVISION", "HASH", "IMAGE", "CREATED", "CAUSE", "")
			for _, r := range revs {
				mark := ""
				if r.Hash == serving {
					mark = "serving"
				}
				t.row(r.Number, r.Hash, r.Spec.Image, r.Created.Local().Format("2006-01-02 15:04:05"), orDash(r.Cause), mark)
			}
			return t.flush()
		},
	}
	f.addTargetFlags(c)
	return c
}

func newRollbackCmd(g *globals) *cobra.Command {
	var f appFlags
	var to int
	var wait bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "rollback SERVICE [--to REVISION]",
		Short: "Release an earlier revision of a service (default: the one before)",
		Long:  "Make an earlier revision the desired one; it is released with the service's strategy, so traffic moves without failed requests. A rollback of a release in progress aborts it.",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			cl := g.client()
			rev, err := cl.Rollback(c.Context(), target, args[0], to)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.errw(), "rolling %s back to revision %d (%s)\n", args[0], rev.Number, rev.Hash)
			if !wait {
				return nil
			}
			return g.waitReleases(c.Context(), cl, target, []string{args[0]}, timeout)
		},
	}
	f.addTargetFlags(c)
	c.Flags().IntVar(&to, "to", 0, "revision number (see `haven history`)")
	c.Flags().BoolVar(&wait, "wait", true, "wait until the release finishes")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return c
}

func newReleaseCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "release", Short: "Releases: how revisions replace each other"}
	var f appFlags
	var limit int
	status := &cobra.Command{
		Use: "status [SERVICE]", Short: "Show releases in progress and the latest ones, with why they failed", Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			target, err := f.target(c.Context(), g)
			if err != nil {
				return err
			}
			service := ""
			if len(args) == 1 {
				service = args[0]
			}
			rels, err := g.client().Releases(c.Context(), target, service, limit)
			if err != nil {
				return err
			}
			if done, err := g.printData(rels); done {
				return err
			}
			t := newTable(g.out(), "RELEASE", "SERVICE", "STRATEGY", "REVISIONS", "PHASE", "STEP", "STARTED", "TOOK")
			for _, r := range rels {
				took := "-"
				if !r.Finished.IsZero() {
					took = r.Finished.Sub(r.Started).Round(100 * time.Millisecond).String()
				}
				t.row(r.ID, r.Service, r.Strategy, fmt.Sprintf("%d → %d", r.FromNumber, r.ToNumber), r.Phase, r.Step, ago(r.Started), took)
			}
			if err := t.flush(); err != nil {
				return err
			}
			for _, r := range rels {
				if r.Reason != "" {
					fmt.Fprintf(g.out(), "\nrelease %d (%s): %s\n", r.ID, cell(r.Service), cell(r.Reason))
				}
			}
			return nil
		},
	}
	f.addTargetFlags(status)
	status.Flags().IntVar(&limit, "limit", 10, "how many releases")
	root.AddCommand(status)
	return root
}

func newEventsCmd(g *globals) *cobra.Command {
	var follow bool
	c := &cobra.Command{
		Use: "events [-f]", Short: "Show the event stream: release steps, rollbacks, failures", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return g.client().Events(c.Context(), 0, follow, func(e spec.Event) error {
				if g.output == "json" {
					_, err := g.printData(e)
					return err
				}
				_, err := fmt.Fprintf(g.out(), "%s %s %s\n", e.Time.Local().Format("15:04:05.000"), cell(e.AppEnv.String()), cell(e.Message))
				return err
			})
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	return c
}

// waitReleases follows the releases of services until each is final,
// printing their progress; the exit code says succeeded (0), rolled back
// (6) or failed (3).
func (g *globals) waitReleases(ctx context.Context, cl *client.Client, target spec.AppEnv, services []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	last := map[string]string{}
	for {
		sts, err := cl.Status(ctx, target.App, target.Env)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &ExitError{Code: ExitNotReady, Err: fmt.Errorf("%s: releases not finished after %s", target, timeout)}
			}
			return err
		}
		done, rolledBack, failed := 0, []string{}, []string{}
		for _, st := range sts {
			for _, s := range st.Services {
				if !contains(services, s.Name) || s.Release == nil {
					continue
				}
				r := s.Release
				line := fmt.Sprintf("release %d %s step %d, %d/%d healthy%s", r.ID, r.Phase, r.Step, s.Healthy, s.Desired, weightsString(s.Weights))
				if last[s.Name] != line {
					last[s.Name] = line
					fmt.Fprintf(g.errw(), "  %5.1fs  %-14s %s\n", time.Since(start).Seconds(), s.Name, line)
				}
				switch r.Phase {
				case spec.PhaseSucceeded:
					if s.Condition == spec.ServiceReady {
						done++
					}
				case spec.PhaseRolledBack:
					done++
					rolledBack = append(rolledBack, fmt.Sprintf("%s: %s", s.Name, r.Reason))
				case spec.PhaseFailed:
					done++
					failed = append(failed, fmt.Sprintf("%s: %s", s.Name, r.Reason))
				}
			}
		}
		if done >= len(services) {
			switch {
			case len(failed) > 0:
				return &ExitError{Code: ExitNotReady, Err: fmt.Errorf("release failed:\n  %s", strings.Join(failed, "\n  "))}
			case len(rolledBack) > 0:
				return &ExitError{Code: ExitRolledBack, Err: fmt.Errorf("release rolled back:\n  %s", strings.Join(rolledBack, "\n  "))}
			}
			fmt.Fprintf(g.errw(), "%s released in %.1fs\n", target, time.Since(start).Seconds())
			return nil
		}
		select {
		case <-ctx.Done():
			return &ExitError{Code: ExitNotReady, Err: fmt.Errorf("%s: releases not finished after %s", target, timeout)}
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func weightsString(w map[string]int) string {
	if len(w) == 0 {
		return ""
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d%%", k, w[k])
	}
	return ", traffic " + strings.Join(parts, " ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
