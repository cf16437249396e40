package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/client"
)

// ServerConfig is what `haven server` (and the server `haven up` starts)
// runs with.
type ServerConfig struct {
	DataDir string
	// Driver is "docker" or "process".
	Driver string
	// Ingress is the address the ingress proxy listens on.
	Ingress string
	// Socket is the API's unix socket path.
	Socket string
	// Debug turns on debug logging.
	Debug bool
}

// Deps are what the CLI needs from cmd/haven.
type Deps struct {
	// RunServer runs a server until ctx ends.
	RunServer func(ctx context.Context, cfg ServerConfig) error
	Version   string
	Stdout    io.Writer
	Stderr    io.Writer
}

// globals are the flags every command shares.
type globals struct {
	deps    Deps
	dataDir string
	addr    string
	output  string
}

func (g *globals) socket() string { return filepath.Join(g.dataDir, "haven.sock") }

// client returns a client for the server the flags name.
func (g *globals) client() *client.Client {
	if g.addr != "" {
		return client.New(g.addr)
	}
	return client.New(g.socket())
}

func (g *globals) out() io.Writer  { return g.deps.Stdout }
func (g *globals) errw() io.Writer { return g.deps.Stderr }

// NewRoot returns the `haven` command tree.
func NewRoot(deps Deps) *cobra.Command {
	if deps.Stdout == nil {
		deps.Stdout = os.Stdout
	}
	if deps.Stderr == nil {
		deps.Stderr = os.Stderr
	}
	g := &globals{deps: deps}
	root := &cobra.Command{
		Use:   "haven",
		Short: "Run a compose app production-style: replicas, health checks, self-healing, an ingress",
		Long: `Haven runs your compose.yaml like a production platform on your own machine:
replicas behind a load balancer, health checks that gate traffic, and instances
that come back by themselves when they die.

Start with:  haven up -f compose.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(deps.Stdout)
	root.SetErr(deps.Stderr)
	home, _ := os.UserHomeDir()
	defDir := os.Getenv("HAVEN_DATA_DIR")
	if defDir == "" {
		defDir = filepath.Join(home, ".haven")
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", defDir, "Haven's data directory (store, sockets, logs); env HAVEN_DATA_DIR")
	root.PersistentFlags().StringVar(&g.addr, "server", os.Getenv("HAVEN_SERVER"), "server address: a unix socket path or an http:// URL (default: the socket in --data-dir); env HAVEN_SERVER")
	root.PersistentFlags().StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	root.AddCommand(
		newServerCmd(g), newUpCmd(g), newDeployCmd(g), newPsCmd(g), newStatusCmd(g),
		newLogsCmd(g), newScaleCmd(g), newDownCmd(g), newValidateCmd(g), newVersionCmd(g),
	)
	return root
}

// Main runs the CLI with args and returns the process exit code.
func Main(ctx context.Context, deps Deps, args []string) int {
	root := NewRoot(deps)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(root.ErrOrStderr(), "Error:", err)
	}
	return ExitCode(err)
}
