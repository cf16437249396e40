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
	// Network holds the options of the app's one network, per
	// environment (compose's top-level `networks:`); nil: a plain bridge.
	Network *Network `json:"network,omitempty"`
}

// NetworkMode is how a service's instances are networked.
type NetworkMode string

// Network modes besides the default (the app's network).
const (
	// NetworkHost runs the instance in the host's network namespace: it
	// listens on the machine's own ports and the ingress reaches it at
	// 127.0.0.1. One instance at most, as two would fight over the ports.
	NetworkHost NetworkMode = "host"
	// NetworkNone gives the instance a loopback interface only.
	NetworkNone NetworkMode = "none"
)

// Network is the options of an app's network (one per app and
// environment). The zero value is Haven's default: a plain bridge.
type Network struct {
	// DriverOpts are the bridge driver's options.
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	// Labels are added to Haven's own labels on the network.
	Labels map[string]string `json:"labels,omitempty"`
	// Internal networks have no route out of the machine.
	Internal bool `json:"internal,omitempty"`
	// EnableIPv6 gives instances an IPv6 address too.
	EnableIPv6 bool `json:"enable_ipv6,omitempty"`
	// Attachable lets containers Haven does not manage join the network.
	Attachable bool `json:"attachable,omitempty"`
	// IPAMDriver and Subnets set the network's address management (compose's
	// ipam); needed to pin a service's address.
	IPAMDriver string   `json:"ipam_driver,omitempty"`
	Subnets    []Subnet `json:"subnets,omitempty"`
}

// Subnet is one address pool of a network.
type Subnet struct {
	Subnet  string `json:"subnet"`
	IPRange string `json:"ip_range,omitempty"`
	Gateway string `json:"gateway,omitempty"`
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
	// Driver is the volume driver ("": the engine's local driver).
	Driver string `json:"driver,omitempty"`
	// DriverOpts are passed to the driver when the volume is created
	// (compose's driver_opts: e.g. type/device/o for an NFS mount).
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	// External names a volume that exists outside Haven (compose's
	// `external: true`, with `name:` or the key as its name). Haven mounts
	// it as it is, never creates or removes it, and shares it across
	// environments: that is what the user asked for.
	External string `json:"external,omitempty"`
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
	// NetworkMode is "" (the app's network, the default), NetworkHost or
	// NetworkNone (compose's network_mode).
	NetworkMode NetworkMode `json:"network_mode,omitempty"`
	// Aliases are more DNS names the service's instances answer to on the
	// app's network, besides the service name (compose's network aliases
	// and the aliases of links to this service).
	Aliases []string `json:"aliases,omitempty"`
	// IPv4Address and IPv6Address pin the one instance's address on the
	// app's network (compose's ipv4_address/ipv6_address); the network
	// then needs a subnet (App.Network) that holds them.
	IPv4Address string `json:"ipv4_address,omitempty"`
	IPv6Address string `json:"ipv6_address,omitempty"`
	// ExternalNetworks are networks made outside Haven (compose's
	// `external: true`), by their engine name, that the service's
	// instances join besides the app's network, answering there to the
	// same names. Haven never creates or removes them.
	ExternalNetworks []string `json:"external_networks,omitempty"`
	// Files are written into each instance before it starts (compose's
	// configs given by `content:` or `environment:`). They are not
	// secret: their content is part of the spec, shown to whoever may read
	// the app.
	Files []File `json:"files,omitempty"`
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
	// Name is the port's name in the compose file (long syntax), shown
	// only.
	Name      string `json:"name,omitempty"`
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
	// Source is the volume name (MountVolume) or an absolute host path
	// (MountBind). An empty Source of a MountVolume is an anonymous
	// volume: one per instance, removed with the instance (as `docker
	// compose down -v` removes them).
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// SELinux relabels a bind mount's source: "z" (shared) or "Z"
	// (private), as compose's `:z`/`:Z`.
	SELinux string `json:"selinux,omitempty"`
	// Propagation is a bind mount's propagation (rprivate, private,
	// rshared, shared, rslave, slave); empty: the engine's default.
	Propagation string `json:"propagation,omitempty"`
	// NoCopy keeps a new volume from being filled with the image's
	// content at Target (compose's volume.nocopy).
	NoCopy bool `json:"nocopy,omitempty"`
	// Subpath mounts a directory inside the volume instead of its root.
	Subpath string `json:"subpath,omitempty"`
}

// File is a file Haven writes into an instance before it starts.
type File struct {
	// Target is the absolute path inside the instance.
	Target  string `json:"target"`
	Content string `json:"content"`
	// Mode is the file's permission bits (0: 0444, as compose's default).
	Mode uint32 `json:"mode,omitempty"`
	// UID and GID own the file (0: root).
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
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
