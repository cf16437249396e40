package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haven-platform/haven/internal/client"
	"github.com/haven-platform/haven/internal/clientconfig"
	"github.com/haven-platform/haven/internal/pki"
)

// ServerConfig is what `haven server` (and the server `haven up` starts)
// runs with.
type ServerConfig struct {
	DataDir string
	// Driver is "docker" or "process".
	Driver string
	// Ingress is the address the ingress proxy listens on.
	Ingress string
	// IngressMaxBodyMiB, IngressBodyTimeout and IngressMaxConnsPerClient
	// are the ingress's default request limits (proxy.Config; routes
	// override them): 0 takes the proxy's default, negative turns it off.
	IngressMaxBodyMiB        int64
	IngressBodyTimeout       time.Duration
	IngressMaxConnsPerClient int
	// Socket is the API's unix socket path.
	Socket string
	// APIAddr is where the API serves TLS ("" for the socket only).
	APIAddr string
	// TLSCert and TLSKey are an operator's certificate for the API (default:
	// one signed by the CA Haven generates in <data-dir>/tls).
	TLSCert, TLSKey string
	// MetricsAddr serves /metrics in the Prometheus format ("" for none).
	MetricsAddr string
	// AlertWebhooks receive alert notifications (Slack-compatible JSON).
	AlertWebhooks []string
	// SMTPAddr, AlertFrom and AlertTo send alert notifications by email.
	SMTPAddr, AlertFrom string
	AlertTo             []string
	// AlertRulesFile replaces the default alert rules (a JSON list).
	AlertRulesFile string
	// AuditWebhooks and AuditSyslog receive a copy of every audit record
	// (see audit.Sink): webhook URLs, and tcp:// or udp:// syslog
	// receivers.
	AuditWebhooks, AuditSyslog []string
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
	deps        Deps
	dataDir     string
	dataDirSet  bool
	addr        string
	token       string
	ca          string
	contextName string
	output      string

	conn connection // resolved before each command runs
}

// connection is the server a command talks to and how.
type connection struct {
	addr  string
	token string
	tls   *tls.Config
}

func (g *globals) socket() string { return filepath.Join(g.dataDir, "haven.sock") }

// adminTokenFile is where a server writes the token of the admin it
// created at first start, readable by its owner only: the local CLI's
// credentials, so `haven up` works with no login step.
func adminTokenFile(dataDir string) string { return filepath.Join(dataDir, "admin.token") }

// resolve decides which server to call and with which credentials:
// --server (with --token, --ca), else --context or the config's current
// context (unless --data-dir was given), else the local server's socket in
// the data directory with the admin token it wrote there.
func (g *globals) resolve() error {
	if g.addr == "" && !g.dataDirSet {
		cfg, err := clientconfig.Load(clientconfig.DefaultPath())
		if err != nil {
			return err
		}
		if g.contextName != "" {
			if err := cfg.Use(g.contextName); err != nil {
				return &ExitError{Code: ExitInvalid, Err: err}
			}
		}
		if cur, ok := cfg.CurrentContext(); ok {
			g.addr = cur.Server
			g.token = firstNonEmpty(g.token, cur.Token)
			g.ca = firstNonEmpty(g.ca, cur.CA)
		}
	}
	if g.addr == "" {
		g.conn.addr = g.socket()
		if g.token == "" {
			if b, err := os.ReadFile(adminTokenFile(g.dataDir)); err == nil {
				g.token = strings.TrimSpace(string(b))
			}
		}
	} else {
		g.conn.addr = g.addr
	}
	g.conn.token = g.token
	if g.ca != "" {
		t, err := pki.ClientTLS(g.ca)
		if err != nil {
			return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("--ca %s: %w", g.ca, err)}
		}
		g.conn.tls = t
	}
	return nil
}

// client returns a client for the resolved server.
func (g *globals) client() *client.Client {
	if g.conn.addr == "" {
		_ = g.resolve()
	}
	return client.New(g.conn.addr, g.conn.token, g.conn.tls)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
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
	root.PersistentFlags().StringVar(&g.token, "token", os.Getenv("HAVEN_TOKEN"), "API token (default: the context's, or the local server's admin token); env HAVEN_TOKEN")
	root.PersistentFlags().StringVar(&g.ca, "ca", os.Getenv("HAVEN_CA"), "CA certificate that signed an https server's certificate; env HAVEN_CA")
	root.PersistentFlags().StringVar(&g.contextName, "context", "", "use this context of ~/.haven/config (env HAVEN_CONFIG moves the file)")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		g.dataDirSet = c.Flags().Changed("data-dir") || os.Getenv("HAVEN_DATA_DIR") != ""
		return g.resolve()
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitInvalid, Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	root.AddCommand(
		newServerCmd(g), newUpCmd(g), newDeployCmd(g), newPsCmd(g), newStatusCmd(g),
		newLogsCmd(g), newScaleCmd(g), newDownCmd(g), newValidateCmd(g), newVersionCmd(g),
		newLoginCmd(g), newTokenCmd(g), newUserCmd(g), newMFACmd(g), newSecretCmd(g), newEnvCmd(g), newAuditCmd(g),
		newHistoryCmd(g), newRollbackCmd(g), newReleaseCmd(g), newEventsCmd(g),
		newMetricsCmd(g), newTopCmd(g), newAlertsCmd(g),
		newExecCmd(g), newRestartCmd(g), newStopCmd(g), newStartCmd(g), newConfigCmd(g), newImagesCmd(g), newPortCmd(g), newCompletionCmd(g),
	)
	root.CompletionOptions.DisableDefaultCmd = true // `haven completion` is ours (completion.go)
	return root
}

// Main runs the CLI with args and returns the process exit code.
func Main(ctx context.Context, deps Deps, args []string) int {
	root := NewRoot(deps)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errPassThrough) { // exec's command spoke for itself
		fmt.Fprintln(root.ErrOrStderr(), "Error:", text(err.Error())) // server-made text: escaped like a table
	}
	return ExitCode(err)
}
