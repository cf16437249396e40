package driver

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// Errors a driver reports. Callers match them with errors.Is; drivers wrap
// them with the detail the user needs.
var (
	// ErrUnavailable: the runtime itself cannot be reached (Docker not
	// running). The message tells the user to start it or use
	// `--driver process`.
	ErrUnavailable = errors.New("driver unavailable")
	// ErrImageNotFound: the image is not present locally and could not be
	// pulled.
	ErrImageNotFound = errors.New("image not found")
	// ErrPortInUse: a host port an instance publishes is already taken.
	ErrPortInUse = errors.New("port already in use")
	// ErrNotFound: no instance with that id.
	ErrNotFound = errors.New("instance not found")
)

// Driver runs instances of services.
//
// Contract, shared by every implementation and checked by drivertest:
//   - Everything a driver creates carries the instance's labels
//     (spec.InstanceLabels.Map), and List rebuilds the full picture from the
//     runtime alone: a new Driver value over the same runtime (after Haven
//     was killed) lists every instance the old one started, running or not.
//   - Start returns once the instance is running (or has failed to start);
//     it never waits for health.
//   - Stop sends SIGTERM, waits up to grace, then SIGKILL, and removes the
//     instance. Stopping an instance that is already gone is not an error.
//   - Remove deletes the record of an exited instance.
//   - Methods are safe for concurrent use.
type Driver interface {
	// Name is "docker" or "process".
	Name() string
	// PrepareImage makes the service's image available (building it when
	// svc.Build is set) and returns its content identity (for Docker, the
	// image ID). The process driver, which runs host commands, returns "".
	PrepareImage(ctx context.Context, app spec.AppEnv, svc spec.Service) (imageID string, err error)
	// EnsureEnv creates the app+environment's network and named volumes if
	// they do not exist yet. It is idempotent.
	EnsureEnv(ctx context.Context, env spec.AppEnv, app spec.App) error
	// RemoveEnv removes the app+environment's network once no instance uses
	// it. Named volumes are kept unless removeVolumes is set: data outlives
	// `haven down` by default.
	RemoveEnv(ctx context.Context, env spec.AppEnv, removeVolumes bool) error
	// Start creates and starts one instance.
	Start(ctx context.Context, req StartRequest) (Instance, error)
	// Stop stops and removes an instance: SIGTERM, up to grace, SIGKILL.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes an exited instance's record (and its container).
	Remove(ctx context.Context, id string) error
	// List returns every instance Haven owns on this runtime, running or
	// exited, rebuilt from the runtime's own records.
	List(ctx context.Context) ([]Instance, error)
	// Events streams instance lifecycle changes (exits, native health
	// changes) as they happen, until ctx ends. Drivers that cannot push may
	// poll, but must report an exit within a second.
	Events(ctx context.Context) (<-chan Event, error)
	// Logs calls fn with each log line of the instance, oldest first,
	// from opts.Since (zero: all kept lines; opts.Tail > 0: only the last
	// Tail lines). With opts.Follow it keeps calling fn with new lines until
	// ctx ends or the instance is removed. A non-nil error from fn stops it.
	Logs(ctx context.Context, id string, opts LogOptions, fn func(LogLine) error) error
}

// StartRequest asks a driver to start one instance.
type StartRequest struct {
	Labels spec.InstanceLabels
	// Service is the full service spec (image, command, env, mounts, limits,
	// exec health check, secrets, published ports).
	Service spec.Service
	// App is the app the service belongs to (for volumes and secrets).
	App spec.App
	// Aliases are the DNS names other instances of the app+environment reach
	// this one by (the service name).
	Aliases []string
	// SecretValues holds the plaintext of the service's external secrets
	// (spec.Secret.External), by secret name, resolved from the secret
	// store just before the start. A driver delivers each at
	// /run/secrets/<target> without writing it to Haven's data directory,
	// and never logs it.
	SecretValues map[string][]byte
}

// VolumeCopier is implemented by drivers that can clone an environment's
// named volumes into another environment (`haven env create --with-data`).
type VolumeCopier interface {
	// CopyVolumes copies each named volume of from into a new, empty volume
	// of to, consistently: writers are paused while their volume is copied.
	// It fails without changing anything if a target volume has data.
	CopyVolumes(ctx context.Context, from, to spec.AppEnv, volumes []string) error
}

// Instance is what a driver observed of one instance.
type Instance struct {
	// ID is the runtime's id for the instance (container id, or the process
	// driver's record id). It is what Stop, Remove and Logs take.
	ID     string
	Labels spec.InstanceLabels
	// Running is true while the instance's process is alive.
	Running bool
	// ExitCode is the exit status of an instance that is no longer running
	// (-1 when unknown, for example a process adopted after a Haven crash).
	ExitCode int
	// OOMKilled reports an exit caused by the memory limit.
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
	// NativeHealth is the result of the runtime's own exec health check:
	// "" when the service has none, else "starting", "healthy" or "unhealthy".
	NativeHealth string
	// Addrs maps each container port of the service (route, health check,
	// expose and published ports) to a "host:port" reachable from the
	// machine Haven runs on: the container's IP on the app network for
	// Docker, 127.0.0.1 and an allocated port for processes.
	Addrs map[int]string
}

// Addr returns the host:port for a container port, or "" if unknown.
func (i Instance) Addr(port int) string { return i.Addrs[port] }

// EventKind says what happened to an instance.
type EventKind string

// Event kinds.
const (
	EventStarted EventKind = "started"
	EventExited  EventKind = "exited" // the process ended (crash, kill, OOM, completion)
	EventHealth  EventKind = "health" // NativeHealth changed
)

// Event is one lifecycle change reported by Events.
type Event struct {
	ID     string
	Labels spec.InstanceLabels
	Kind   EventKind
	// ExitCode is set for EventExited (-1 when unknown).
	ExitCode int
	// Health is the new NativeHealth for EventHealth.
	Health string
	Time   time.Time
}

// LogOptions select log lines.
type LogOptions struct {
	Since  time.Time
	Tail   int
	Follow bool
}

// LogLine is one line an instance wrote.
type LogLine struct {
	Time time.Time
	// Stream is "stdout" or "stderr".
	Stream string
	// Text is the line without its trailing newline.
	Text string
}

// StatsReader is implemented by drivers that can measure their instances
// (the metrics collector uses it every couple of seconds, so it must be
// cheap: cgroup files rather than a round trip per instance when possible).
type StatsReader interface {
	// Stats returns cumulative counters and current gauges of an instance.
	Stats(ctx context.Context, id string) (Stats, error)
}

// Stats are one instance's resource figures at one moment.
type Stats struct {
	Time time.Time
	// CPUSeconds is the CPU time used since the instance started
	// (cumulative; rates are computed by the collector).
	CPUSeconds float64
	// CPULimit is the CPU limit in cores (0: none).
	CPULimit float64
	// MemoryBytes is the memory in use; MemoryLimit its limit (0: none).
	MemoryBytes, MemoryLimit int64
	// NetRxBytes and NetTxBytes are cumulative network bytes.
	NetRxBytes, NetTxBytes uint64
	// DiskBytes is what the instance writes to disk (its writable layer
	// and its volumes), DiskLimit the size of the filesystem or quota that
	// holds them (0: unknown).
	DiskBytes, DiskLimit int64
	// DiskFullness is how full (0-1) the fullest filesystem the instance
	// writes to is: its writable layer's, each volume's and each writable
	// bind mount's. It is what a "disk above 85%" alert watches: the
	// instance fails when that filesystem is full, whoever filled it.
	DiskFullness float64
}

// Execer is implemented by drivers that can run a command inside a running
// instance (`haven exec`).
type Execer interface {
	// Exec runs req.Cmd in instance id, as the instance runs (its user,
	// environment and working directory), and returns the command's exit
	// status once it ends and its output has been written. A command that
	// cannot be started (no such program) ends with status 126 or 127, its
	// reason written to req.Stderr, as a shell reports it; an error is
	// returned only when nothing could run: the instance is not running
	// (ErrNotFound) or the runtime failed. When ctx ends first (the caller
	// went away) the command's stdin is closed and Exec returns ctx's
	// error without waiting further.
	Exec(ctx context.Context, id string, req ExecRequest) (exitCode int, err error)
}

// ExecRequest is one command to run in an instance.
type ExecRequest struct {
	// Cmd is the program and its arguments (no shell is involved).
	Cmd []string
	// TTY gives the command a terminal: its stdout and stderr are both
	// the terminal's output, written to Stdout.
	TTY bool
	// Stdin is the command's input; nil means none (it reads EOF).
	Stdin io.Reader
	// Stdout and Stderr receive the command's output as it is written.
	Stdout, Stderr io.Writer
	// Size is the terminal's initial size and Resize its changes, with TTY.
	Size   TermSize
	Resize <-chan TermSize
}

// TermSize is a terminal's size in characters.
type TermSize struct {
	Width, Height uint16
}

// ExecerOf returns d's Execer, looking through wrappers such as Owned, or
// false when the driver cannot run commands in instances.
func ExecerOf(d Driver) (Execer, bool) {
	for {
		if e, ok := d.(Execer); ok {
			return e, true
		}
		w, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			return nil, false
		}
		d = w.Unwrap()
	}
}

// ImageSizer is implemented by drivers whose images have a size on disk
// (`haven images`).
type ImageSizer interface {
	// ImageSize returns the size in bytes of the image with that id (or
	// reference), or ErrImageNotFound.
	ImageSize(ctx context.Context, image string) (int64, error)
}

// ImageSizerOf returns d's ImageSizer, looking through wrappers such as
// Owned, or false when the driver has none.
func ImageSizerOf(d Driver) (ImageSizer, bool) {
	for {
		if s, ok := d.(ImageSizer); ok {
			return s, true
		}
		w, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			return nil, false
		}
		d = w.Unwrap()
	}
}
