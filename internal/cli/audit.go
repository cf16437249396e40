package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/audit"
)

func newAuditCmd(g *globals) *cobra.Command {
	var since time.Duration
	var user, action string
	root := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail: who did what, to what, from where (admins)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f := audit.Filter{Actor: user, Action: action}
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			records, err := g.client().Audit(c.Context(), f)
			if err != nil {
				return err
			}
			if done, err := g.printData(records); done {
				return err
			}
			t := newTable(g.out(), "SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "SOURCE", "RESULT")
			for _, r := range records {
				t.row(r.Seq, r.Time.Local().Format("2006-01-02 15:04:05"), r.Actor, r.Action, r.Target, r.Source, r.Result)
			}
			return t.flush()
		},
	}
	root.Flags().DurationVar(&since, "since", 0, "only records from this long ago")
	root.Flags().StringVar(&user, "user", "", "only this actor")
	root.Flags().StringVar(&action, "action", "", "only this action")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain; names the first edited or deleted record (exit 1)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			rep, err := g.client().VerifyAudit(c.Context())
			if err != nil {
				return err
			}
			if done, err := g.printData(rep); done || err != nil {
				if err == nil && !rep.OK {
					return &ExitError{Code: ExitFailure, Err: fmt.Errorf("audit trail is broken at record %d: %s", rep.FirstBad, rep.Reason)}
				}
				return err
			}
			if !rep.OK {
				return &ExitError{Code: ExitFailure, Err: fmt.Errorf("audit trail is broken at record %d (line %d): %s", rep.FirstBad, rep.Line, rep.Reason)}
			}
			fmt.Fprintf(g.out(), "audit trail intact: %d records\n", rep.Records)
			if rep.Unkeyed > 0 {
				fmt.Fprintf(g.out(), "records 1–%d were written before the trail was keyed: they prove only that nobody without write access to the data directory changed them\n", rep.Unkeyed)
			}
			return nil
		},
	}
	root.AddCommand(verify)
	return root
}
