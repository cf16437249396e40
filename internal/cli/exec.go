package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sort"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/spec"
)

// errPassThrough marks an exit code that is a command's own (exec's), so
// Main prints nothing for it: the command said what it had to.
var errPassThrough = errors.New("the command's exit status")

func newExecCmd(g *globals) *cobra.Command {
	var (
		f           appFlags
		instance    string
		interactive bool
		tty         bool
	)
	c := &cobra.Command{
		Use:   "exec SERVICE [--instance ID] [-i] [-t] -- CMD [ARG...]",
		Short: "Run a command in a running instance of a service",
		Long: `Run a command in a running instance of a service (any healthy one unless
--instance names one), as the instance runs: its user, environment and working
directory. No shell is involved: name the program (the mall's scratch images
have only their own binary). Haven's flags go before --, the command after
it; without --, everything after SERVICE is the command (haven exec api ls -la).

With a terminal on stdin, the command gets one too (-t) and reads your input
(-i); turn either off with -t=false or -i=false, or on for piped input (-i).
Haven exits with the command's own exit status. The audit trail records that
you ran a command in that instance, never the command or its output.`,
		Example: "  haven exec api -- /api -healthcheck\n  haven exec api --instance 3f2a9c01 -- /api -healthcheck\n  haven exec db -- psql -U mall\n  echo 'select 1' | haven exec -i db -- psql -U mall",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			service, cmd, err := execArgs(c, args)
			if err != nil {
				return err
			}
			if len(cmd) == 0 {
				return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("name the command to run after the service: haven exec %s -- CMD [ARG...]", service)}
			}
			ctx := c.Context()
			target, err := f.target(ctx, g)
			if err != nil {
				return err
			}
			cl := g.client()
			if instance == "" {
				if instance, err = pickInstance(ctx, cl, target, service); err != nil {
					return err
				}
			}
			stdinFd := int(os.Stdin.Fd())
			stdinTTY := term.IsTerminal(stdinFd)
			outFile, _ := g.out().(*os.File)
			stdoutTTY := outFile != nil && term.IsTerminal(int(outFile.Fd()))
			if !c.Flags().Changed("interactive") {
				interactive = stdinTTY
			}
			if !c.Flags().Changed("tty") {
				tty = stdinTTY && stdoutTTY
			}
			opts := client.ExecOptions{Cmd: cmd, TTY: tty, Stdout: g.out(), Stderr: g.errw()}
			if interactive {
				opts.Stdin = os.Stdin
			}
			if tty && stdinTTY {
				if w, h, err := term.GetSize(stdinFd); err == nil {
					opts.Width, opts.Height = uint16(w), uint16(h)
				}
				resize := make(chan [2]uint16, 1)
				sigs := make(chan os.Signal, 1)
				signal.Notify(sigs, syscall.SIGWINCH)
				defer signal.Stop(sigs)
				go func() {
					for range sigs {
						if w, h, err := term.GetSize(stdinFd); err == nil {
							select {
							case resize <- [2]uint16{uint16(w), uint16(h)}:
							default:
							}
						}
					}
				}()
				opts.Resize = resize
				if interactive {
					// Raw mode: keys (^C included) go to the command's terminal.
					old, err := term.MakeRaw(stdinFd)
					if err == nil {
						defer term.Restore(stdinFd, old)
					}
				}
			}
			code, err := cl.Exec(ctx, target, service, instance, opts)
			if err != nil {
				return err
			}
			if code != 0 {
				return &ExitError{Code: code, Err: errPassThrough}
			}
			return nil
		},
	}
	c.Flags().SetInterspersed(false) // flags after SERVICE belong to the command
	f.addTargetFlags(c)
	c.Flags().StringVar(&instance, "instance", "", "the instance to run in (see `haven ps`; default: a healthy one)")
	c.Flags().BoolVarP(&interactive, "interactive", "i", false, "send stdin to the command (default: when stdin is a terminal)")
	c.Flags().BoolVarP(&tty, "tty", "t", false, "give the command a terminal (default: when stdin and stdout are terminals)")
	return c
}

// execArgs splits exec's arguments into the service and the command.
// Flags are parsed up to the first argument that is not one (SERVICE);
// then, when a `--` follows, what stands between SERVICE and it are more
// of haven's flags (`haven exec api --instance ID -- CMD`) and the command
// is everything after it; without `--` everything after SERVICE is the
// command, as docker exec reads it (`haven exec api ls -la`).
func execArgs(c *cobra.Command, args []string) (string, []string, error) {
	service, rest := args[0], args[1:]
	dash := slices.Index(rest, "--")
	if dash < 0 {
		return service, rest, nil
	}
	if err := c.Flags().Parse(rest[:dash]); err != nil {
		return "", nil, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%w\nhaven's flags go before --, the command after it: haven exec %s [--instance ID] -- CMD [ARG...]", err, service)}
	}
	if left := c.Flags().Args(); len(left) > 0 {
		return "", nil, &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%q between the service and -- is not a flag of haven exec: the command goes after --, as in haven exec %s -- CMD [ARG...]", left[0], service)}
	}
	return service, rest[dash+1:], nil
}

// pickInstance chooses the instance exec runs in: a healthy one, else any
// live one, the oldest first.
func pickInstance(ctx context.Context, cl *client.Client, target spec.AppEnv, service string) (string, error) {
	sts, err := cl.Status(ctx, target.App, target.Env)
	if err != nil {
		return "", err
	}
	var healthy, live []spec.InstanceStatus
	known := false
	for _, st := range sts {
		for _, s := range st.Services {
			if s.Name != service {
				continue
			}
			known = true
			for _, i := range s.Instances {
				switch {
				case i.State == spec.StateHealthy:
					healthy = append(healthy, i)
				case i.State.Live():
					live = append(live, i)
				}
			}
		}
	}
	if !known {
		return "", &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%s has no service %q (see `haven status`)", target, service)}
	}
	for _, set := range [][]spec.InstanceStatus{healthy, live} {
		if len(set) > 0 {
			sort.Slice(set, func(i, j int) bool { return set[i].StartedAt.Before(set[j].StartedAt) })
			return set[0].ID, nil
		}
	}
	return "", &ExitError{Code: ExitInvalid, Err: fmt.Errorf("service %s of %s has no running instance to run a command in (see `haven ps`; `haven start %s` if it was stopped)", service, target, service)}
}
