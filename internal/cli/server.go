package cli

import (
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// serverFlags are the settings of a server, shared by `haven server` and
// the server `haven up` starts when none runs.
type serverFlags struct {
	driver        string
	ingress       string
	ingressLimits struct {
		maxBodyMiB  int64
		bodyTimeout time.Duration
		perClient   int
	}
	apiAddr         string
	tlsCert, tlsKey string
	metricsAddr     string
	webhooks        []string
	smtpAddr        string
	mailFrom        string
	mailTo          []string
	alertRules      string
	auditWebhooks   []string
	auditSyslog     []string
	debug           bool
}

func (f *serverFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.driver, "driver", "docker", "what runs instances: docker (the Engine API) or process (local processes; apps listen on $PORT)")
	c.Flags().StringVar(&f.ingress, "ingress", "127.0.0.1:8080", "address the ingress proxy listens on (use :80 to serve the world)")
	c.Flags().Int64Var(&f.ingressLimits.maxBodyMiB, "ingress-max-body-mib", 64, "largest request body the ingress accepts, in MiB (413 beyond; -1 for no limit; a route's x-haven limits override it)")
	c.Flags().DurationVar(&f.ingressLimits.bodyTimeout, "ingress-body-timeout", 30*time.Second, "longest wait for the next bytes of a request body (408 beyond; -1s for none)")
	c.Flags().IntVar(&f.ingressLimits.perClient, "ingress-max-conns-per-client", 128, "requests one client address may have in flight to one service (429 beyond; -1 for no limit; raise it behind a load balancer)")
	c.Flags().StringVar(&f.apiAddr, "api-addr", "127.0.0.1:7443", "address the API serves TLS on, for remote CLIs and CI (\"\" for the local socket only)")
	c.Flags().StringVar(&f.tlsCert, "tls-cert", "", "the API's certificate (default: signed by the CA Haven generates in <data-dir>/tls)")
	c.Flags().StringVar(&f.tlsKey, "tls-key", "", "the key of --tls-cert")
	c.Flags().StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9464", "address /metrics is served on in the Prometheus format (\"\" for none)")
	c.Flags().StringArrayVar(&f.webhooks, "alert-webhook", nil, "URL alert notifications are posted to as JSON (Slack-compatible; repeatable)")
	c.Flags().StringVar(&f.smtpAddr, "smtp-addr", "", "SMTP server (host:port) alert emails go through")
	c.Flags().StringVar(&f.mailFrom, "alert-email-from", "haven@localhost", "sender of alert emails")
	c.Flags().StringArrayVar(&f.mailTo, "alert-email-to", nil, "recipient of alert emails (repeatable)")
	c.Flags().StringVar(&f.alertRules, "alert-rules", "", "JSON file of alert rules replacing the four defaults")
	c.Flags().StringArrayVar(&f.auditWebhooks, "audit-webhook", nil, "URL every audit record is POSTed to as JSON, in order, retried with backoff; best-effort: a dead receiver never blocks the API, dropped records are counted and logged (repeatable)")
	c.Flags().StringArrayVar(&f.auditSyslog, "audit-syslog", nil, "syslog receiver every audit record is sent to as RFC 5424, tcp://HOST:PORT or udp://HOST:PORT; best-effort like --audit-webhook (repeatable)")
	c.Flags().BoolVar(&f.debug, "debug", false, "log at debug level")
}

func newServerCmd(g *globals) *cobra.Command {
	var f serverFlags
	c := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane, the agent and the ingress in one process",
		Long: `Run Haven's server in the foreground: the API on a unix socket in the data
directory, the agent that keeps instances converged, and the ingress proxy.
Instances keep running when the server stops; the next server adopts them.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return g.deps.RunServer(ctx, ServerConfig{DataDir: g.dataDir, Driver: f.driver, Ingress: f.ingress, Socket: g.socket(),
				IngressMaxBodyMiB: f.ingressLimits.maxBodyMiB, IngressBodyTimeout: f.ingressLimits.bodyTimeout, IngressMaxConnsPerClient: f.ingressLimits.perClient,
				APIAddr: f.apiAddr, TLSCert: f.tlsCert, TLSKey: f.tlsKey, Debug: f.debug,
				MetricsAddr: f.metricsAddr, AlertWebhooks: f.webhooks, SMTPAddr: f.smtpAddr, AlertFrom: f.mailFrom, AlertTo: f.mailTo, AlertRulesFile: f.alertRules,
				AuditWebhooks: f.auditWebhooks, AuditSyslog: f.auditSyslog})
		},
	}
	f.add(c)
	return c
}
