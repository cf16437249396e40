package docker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"

	"github.com/haven-platform/haven/internal/spec"
)

// ErrNodeMismatch marks a service option the node cannot satisfy: a device
// it does not have, a platform it is not. The instance is not started; the
// message says which option and what to change.
var ErrNodeMismatch = errors.New("the node cannot run this service as written")

// applyContainerOptions sets what a service's spec.ContainerOptions ask
// for on the container's configuration: each field is the `docker run`
// flag of the same compose key. The Docker container's own name stays
// Haven's (ContainerName): container_name is an alias on the app network,
// added by containerConfig with the others.
//
// Devices and the platform are checked against this node here, at start,
// rather than at deploy: the compose file is loaded on a laptop and the
// server may not be the node that runs the instance.
func applyContainerOptions(opts spec.ContainerOptions, cfg *container.Config, host *container.HostConfig) error {
	cfg.Hostname = opts.Hostname
	cfg.Domainname = opts.Domainname
	if opts.StopSignal != "" {
		cfg.StopSignal = engineSignal(opts.StopSignal)
	}
	cfg.OpenStdin = opts.StdinOpen
	cfg.Tty = opts.Tty
	host.Init = opts.Init
	host.ReadonlyRootfs = opts.ReadOnly
	if len(opts.Tmpfs) > 0 {
		host.Tmpfs = make(map[string]string, len(opts.Tmpfs))
		for _, t := range opts.Tmpfs {
			p, o, _ := strings.Cut(t, ":")
			host.Tmpfs[p] = o
		}
	}
	host.ShmSize = opts.ShmSizeBytes
	host.ExtraHosts = opts.ExtraHosts
	host.DNS = opts.DNS
	host.DNSSearch = opts.DNSSearch
	host.DNSOptions = opts.DNSOptions
	host.CapAdd = opts.CapAdd
	host.CapDrop = opts.CapDrop
	host.Sysctls = opts.Sysctls
	for _, u := range opts.Ulimits {
		host.Ulimits = append(host.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	host.SecurityOpt = opts.SecurityOpt
	for _, d := range opts.Devices {
		if _, err := os.Stat(d.Source); err != nil {
			return fmt.Errorf("%w: device %s (devices:) does not exist on this node; attach it, or remove it from the service's devices", ErrNodeMismatch, d.Source)
		}
		target, perms := d.Target, d.Permissions
		if target == "" {
			target = d.Source
		}
		if perms == "" {
			perms = "rwm"
		}
		host.Devices = append(host.Devices, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: target, CgroupPermissions: perms})
	}
	host.GroupAdd = opts.GroupAdd
	host.PidMode = container.PidMode(opts.PID)
	if opts.IPC != "" {
		host.IpcMode = container.IpcMode(opts.IPC)
	}
	host.Privileged = opts.Privileged
	if p := opts.Platform; p != "" {
		goos, arch, _ := strings.Cut(p, "/")
		arch, _, _ = strings.Cut(arch, "/") // the variant (arm64/v8) is not compared
		if goos != runtime.GOOS || (arch != "" && arch != runtime.GOARCH) {
			return fmt.Errorf("%w: platform %s (platform:) is not this node's, %s/%s; Haven does not run images emulated: build the image for %s/%s and remove platform, or run it on a node of that platform", ErrNodeMismatch, p, runtime.GOOS, runtime.GOARCH, runtime.GOOS, runtime.GOARCH)
		}
	}
	host.Runtime = opts.Runtime
	if host.NanoCPUs == 0 {
		// deploy.resources.limits.cpus wins; compose refuses the two
		// when they differ.
		host.NanoCPUs = opts.NanoCPUs
	}
	host.CPUShares = opts.CPUShares
	host.CpusetCpus = opts.CPUSet
	host.CPUPeriod = opts.CPUPeriod
	host.CPUQuota = opts.CPUQuota
	host.UTSMode = container.UTSMode(opts.UTS)
	host.UsernsMode = container.UsernsMode(opts.UsernsMode)
	host.MemoryReservation = opts.MemoryReservationBytes
	host.MemorySwappiness = opts.MemorySwappiness
	host.MemorySwap = opts.MemorySwapBytes
	if opts.PidsLimit != 0 {
		n := opts.PidsLimit
		host.PidsLimit = &n
	}
	host.OomScoreAdj = opts.OOMScoreAdj
	return nil
}

// startIntervalAPI is the first Engine API version that takes a health
// check's start interval (Docker 25).
const startIntervalAPI = "1.44"

// fitEngine drops what the connected Engine is too old to take, instead of
// failing every start: healthcheck.start_interval before API 1.44, where
// the check then runs at its interval from the start. It logs that once
// per service, so the difference is never silent.
func (d *Driver) fitEngine(service string, cfg *container.Config) {
	hc := cfg.Healthcheck
	if hc == nil || hc.StartInterval == 0 || !versions.LessThan(d.cli.ClientVersion(), startIntervalAPI) {
		return
	}
	hc.StartInterval = 0
	if _, seen := d.warned.LoadOrStore(service+"/start_interval", true); !seen {
		slog.Warn("healthcheck.start_interval not applied: the Docker Engine is older than API "+startIntervalAPI+" (Docker 25); the check runs at its interval from the start",
			"service", service, "engine_api", d.cli.ClientVersion())
	}
}

// engineSignal writes a stop_signal the way the Engine reads it: a name
// with "SIG" ("quit" becomes "SIGQUIT"), or the number.
func engineSignal(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if _, err := strconv.Atoi(s); err == nil || strings.HasPrefix(s, "SIG") {
		return s
	}
	return "SIG" + s
}

// withContainerName adds container_name to the instance's network aliases:
// in compose, other services reach it by that name too.
func withContainerName(aliases []string, name string) []string {
	if name == "" {
		return aliases
	}
	return append(slices.Clone(aliases), name)
}
