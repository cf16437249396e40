package spec

import (
	"fmt"
	"sort"
	"time"
)

// DefaultEnv is the environment an app is deployed to when none is named.
const DefaultEnv = "default"

// App is the desired state of one application: what `compose.yaml` (plus its
// `x-haven` extensions) asks for, normalized. An App is deployed into one
// environment at a time; the same App in two environments shares nothing.
type App struct {
	// Name is the app's name (compose's project name), a DNS label.
	Name string `json:"name"`
	// Services are the app's services, sorted by name.
	Services []Service `json:"services"`
	// Volumes are the named volumes the app declares, sorted by name.
	Volumes []Volume `json:"volumes,omitempty"`
	// Secrets are the file-backed secrets the app declares, by name.
	Secrets map[string]Secret `json:"secrets,omitempty"`
}

// Service returns the service called name and whether it exists.
func (a *App) Service(name string) (*Service, bool) {
	for i := range a.Services {
		if a.Services[i].Name == name {
			return &a.Services[i], true
		}
	}
	return nil, false
}

// SortServices orders Services by name, the canonical order used everywhere.
func (a *App) SortServices() {
	sort.Slice(a.Services, func(i, j int) bool { return a.Services[i].Name < a.Services[j].Name })
}

// Volume is a named volume. Haven creates it per app and environment, so two
// environments never share data.
type Volume struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Secret is a secret an app's services can mount at /run/secrets/<target>.
// Its value is either a file on the server's machine (File), mounted
// read-only as it is, or, for External secrets, the latest version kept
// encrypted in Haven's secret store for the environment (`haven secret
// set`), copied into the instance when it starts. Values never enter the
// deployment record.
type Secret struct {
	Name string `json:"name"`
	// File is the absolute path of the file holding the value.
	File string `json:"file,omitempty"`
	// External secrets come from Haven's secret store (compose's
	// `external: true`).
	External bool `json:"external,omitempty"`
}

// Service is one deployable unit: an image (or a command, for the process
// driver), how many replicas of it run, how they are checked and routed.
type Service struct {
	Name string `json:"name"`
	// Image is the image reference. When Build is set it is the tag Haven
	// gives the built image.
	Image string `json:"image,omitempty"`
	// ImageID is the resolved content identity of Image (Docker's image ID),
	// filled in by the server at deploy time. A rebuilt image changes it, and
	// with it the service's revision.
	ImageID    string            `json:"image_id,omitempty"`
	Build      *Build            `json:"build,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Command    []string          `json:"command,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	User       string            `json:"user,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	// Ports are host ports published straight to an instance, bypassing the
	// ingress (only valid with one replica).
	Ports []PortMapping `json:"ports,omitempty"`
	// Expose lists container ports other services of the app may reach.
	Expose    []int         `json:"expose,omitempty"`
	Volumes   []Mount       `json:"volumes,omitempty"`
	Networks  []string      `json:"networks,omitempty"`
	DependsOn []Dependency  `json:"depends_on,omitempty"`
	Health    *HealthCheck  `json:"healthcheck,omitempty"`
	Restart   RestartPolicy `json:"restart"`
	Replicas  int           `json:"replicas"`
	// RestartGeneration counts `haven restart`s of the service. It is part
	// of the revision, so a restart is a new revision of the same spec,
	// released with the service's release policy (zero-downtime); deploys
	// carry it over, so redeploying an unchanged file restarts nothing.
	RestartGeneration int               `json:"restart_generation,omitempty"`
	Resources         Resources         `json:"resources,omitzero"`
	Labels            map[string]string `json:"labels,omitempty"`
	Secrets           []SecretRef       `json:"secrets,omitempty"`
	// StopGracePeriod is how long an instance has between SIGTERM and SIGKILL.
	StopGracePeriod Duration `json:"stop_grace_period,omitempty"`
	// Routes send ingress traffic to this service.
	Routes []Route `json:"routes,omitempty"`
	// Release says how a new revision replaces the running one (nil: a
	// rolling release with the defaults).
	Release *ReleasePolicy `json:"release,omitempty"`
	// Alerts are the service's own alert rules, on top of the defaults.
	Alerts []AlertRule `json:"alerts,omitempty"`
	// Container holds the options of how each instance runs (container.go).
	Container ContainerOptions `json:"container,omitzero"`
	// RestartRetries is N of compose's `restart: on-failure:N`: after N
	// consecutive failures the service is left exited instead of being
	// started again (0: no cap, Haven's backoff only).
	RestartRetries int `json:"restart_retries,omitempty"`
}

// Build says how to build a service's image from a local context.
type Build struct {
	// Context is the absolute path of the build context directory.
	Context string `json:"context"`
	// Dockerfile is relative to Context; empty means "Dockerfile".
	Dockerfile string            `json:"dockerfile,omitempty"`
	Args       map[string]string `json:"args,omitempty"`
	Target     string            `json:"target,omitempty"`
}

// PortMapping publishes a container port on a host port.
type PortMapping struct {
	HostIP    string `json:"host_ip,omitempty"`
	Published int    `json:"published"`
	Target    int    `json:"target"`
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
}

// MountType is the kind of a volume mount.
type MountType string

// Mount types.
const (
	MountVolume MountType = "volume" // a named volume, scoped to app+environment
	MountBind   MountType = "bind"   // a host path
)

// Mount attaches a named volume or a host path inside an instance.
type Mount struct {
	Type MountType `json:"type"`
	// Source is the volume name (MountVolume) or an absolute host path (MountBind).
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// DependencyCondition is what a dependency must reach before its dependent starts.
type DependencyCondition string

// Dependency conditions, with compose's names.
const (
	ConditionStarted   DependencyCondition = "service_started"
	ConditionHealthy   DependencyCondition = "service_healthy"
	ConditionCompleted DependencyCondition = "service_completed_successfully"
)

// Dependency is one entry of depends_on.
type Dependency struct {
	Service   string              `json:"service"`
	Condition DependencyCondition `json:"condition"`
}

// RestartPolicy says which exits are followed by a replacement instance.
type RestartPolicy string

// Restart policies. Haven's default is RestartAlways: a production platform
// brings dead instances back unless told otherwise.
const (
	RestartAlways    RestartPolicy = "always"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartNever     RestartPolicy = "no"
)

// Resources are per-instance limits.
type Resources struct {
	// NanoCPUs is the CPU limit in billionths of a core (0: none).
	NanoCPUs int64 `json:"nano_cpus,omitempty"`
	// MemoryBytes is the memory limit (0: none).
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// SecretRef mounts an app secret into a service.
type SecretRef struct {
	Source string `json:"source"`
	// Target is the file name under /run/secrets (defaults to Source).
	Target string `json:"target"`
}

// Route sends ingress requests whose Host and path prefix match to a
// service's Port.
type Route struct {
	// Host is the exact host name to match (no port), stored in canonical
	// form (CanonicalHost); empty matches any host.
	Host string `json:"host,omitempty"`
	// PathPrefix matches the request path on segment boundaries ("/api"
	// matches "/api" and "/api/x", not "/apix"), stored in canonical form
	// (CanonicalPath). Defaults to "/".
	PathPrefix string `json:"path"`
	// Port is the instance port requests are sent to.
	Port int `json:"port"`
	// StripPrefix removes PathPrefix before forwarding.
	StripPrefix bool `json:"strip_prefix,omitempty"`
	// Limits overrides the ingress's default request limits on this route
	// (nil: the defaults).
	Limits *RouteLimits `json:"limits,omitempty"`
}

// RouteLimits bound what one client may make the ingress hold for a
// route. A zero field means the ingress default for that limit.
type RouteLimits struct {
	// MaxBodyBytes is the largest request body accepted; a larger one is
	// answered 413 without reaching an instance.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// BodyReadTimeout is the longest the ingress waits for the next chunk of
	// a request body; a client slower than that is answered 408.
	BodyReadTimeout Duration `json:"body_read_timeout,omitempty"`
	// MaxConnsPerClient bounds the requests one client address may have in
	// flight to this route's instances at once (and so the upstream
	// connections it holds); beyond it the client is answered 429.
	MaxConnsPerClient int `json:"max_conns_per_client,omitempty"`
}

// String renders the route as host/path → :port.
func (r Route) String() string {
	host := r.Host
	if host == "" {
		host = "*"
	}
	return fmt.Sprintf("%s%s -> :%d", host, r.PathPrefix, r.Port)
}

// Duration is a time.Duration that reads and writes as a Go duration string
// ("1m30s") in JSON, so stored specs and `haven validate` output stay legible.
type Duration time.Duration

// D converts back to a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
