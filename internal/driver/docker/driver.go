package docker

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

var (
	_ driver.Driver       = (*Driver)(nil)
	_ driver.VolumeCopier = (*Driver)(nil)
)

// pingTimeout bounds the reachability check in New: a daemon that does not
// answer a ping within it is as good as absent for an interactive command.
const pingTimeout = 5 * time.Second

// Driver runs instances as Docker containers. Create it with New; it is safe
// for concurrent use.
type Driver struct {
	cli *client.Client
	// envMu serializes network and volume creation inside this process. The
	// Engine's own duplicate check covers other processes, but two
	// goroutines racing on the same name would otherwise both see "absent".
	envMu sync.Mutex
	// afterPause, when set (by tests), runs in CopyVolumes once the source
	// volumes' containers are paused, before anything is copied.
	afterPause func()
	stats      statsCache // Stats' cache of pids, cgroup paths and disk sizes (stats.go)
	warned     sync.Map   // "service/option" warned about once (options.go)
}

// New connects to the Docker Engine named by the environment (DOCKER_HOST,
// DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY; the default socket
// otherwise) and pings it. When the Engine cannot be reached the error wraps
// driver.ErrUnavailable and tells the user what to do.
func New(ctx context.Context) (*Driver, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		// A malformed DOCKER_HOST leaves no client to ask for its host.
		return nil, unavailable(hostFromEnv(), err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		host := cli.DaemonHost()
		_ = cli.Close()
		return nil, unavailable(host, err)
	}
	// Ping negotiated the API version already; this makes it explicit for
	// the requests whose options depend on it (network create, stop).
	cli.NegotiateAPIVersion(ctx)
	return &Driver{cli: cli}, nil
}

// Name returns "docker".
func (d *Driver) Name() string { return "docker" }

// Close releases the connection to the Engine. Containers keep running.
func (d *Driver) Close() error { return d.cli.Close() }

// Client exposes the Engine client, for tests and tools that need to look
// behind the Driver (inspecting labels, cleaning up).
func (d *Driver) Client() *client.Client { return d.cli }

// userError is an error whose message is written for the user and must not
// be decorated, yet still matches a sentinel (and the cause) with errors.Is.
type userError struct {
	msg   string
	kind  error
	cause error
}

func (e *userError) Error() string { return e.msg }

func (e *userError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func unavailable(host string, cause error) error {
	return &userError{
		msg:   fmt.Sprintf("Docker is not running or not reachable at %s: start Docker, or use --driver process", host),
		kind:  driver.ErrUnavailable,
		cause: cause,
	}
}

// notFound turns the Engine's "no such container" into driver.ErrNotFound so
// callers need not know about Docker's error types.
func notFound(op, id string, err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s %s: %w", op, id, driver.ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", op, id, err)
}

// envLabels are the labels put on an app+environment's network and volumes.
func envLabels(env spec.AppEnv) map[string]string {
	return map[string]string{
		spec.LabelManaged: "true",
		spec.LabelApp:     env.App,
		spec.LabelEnv:     env.Env,
	}
}

// networkName is the app+environment's bridge network.
func networkName(env spec.AppEnv) string { return env.ResourceName("default") }

// hostFromEnv is the Engine address the client would use, for messages
// written when no client could be made.
func hostFromEnv() string {
	if h := os.Getenv(client.EnvOverrideHost); h != "" {
		return h
	}
	return client.DefaultDockerHost
}
