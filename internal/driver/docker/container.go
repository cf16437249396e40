package docker

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// secretsDir is where secrets appear inside a container, as in compose.
const secretsDir = "/run/secrets/"

// ContainerName is the name Start gives an instance's container:
// "haven-<app>-<env>-<service>-<instance>". Names make `docker ps` legible;
// identity is carried by the labels.
func ContainerName(l spec.InstanceLabels) string {
	return fmt.Sprintf("haven-%s-%s-%s-%s", l.App, l.Env, l.Service, l.Instance)
}

// Start creates the instance's container on the app+environment network
// (creating the network if EnsureEnv has not), starts it and returns it as
// inspected once running. A container that fails to start is removed.
func (d *Driver) Start(ctx context.Context, req driver.StartRequest) (driver.Instance, error) {
	name := ContainerName(req.Labels)
	env := spec.AppEnv{App: req.Labels.App, Env: req.Labels.Env}
	if _, err := d.ensureNetwork(ctx, env, req.App.Network); err != nil {
		return driver.Instance{}, fmt.Errorf("start %s: %w", name, err)
	}
	cfg, host, netCfg, err := containerConfig(req, env)
	if err != nil {
		return driver.Instance{}, fmt.Errorf("start %s: %w", name, err)
	}
	d.fitEngine(req.Service.Name, cfg)
	if err := d.checkPorts(req.Service); req.Service.NetworkMode == "" && err != nil {
		return driver.Instance{}, fmt.Errorf("start %s: %w", name, err)
	}
	created, err := d.cli.ContainerCreate(ctx, cfg, host, netCfg, nil, name)
	if err != nil {
		return driver.Instance{}, fmt.Errorf("start %s: create container: %w", name, err)
	}
	err = d.joinExternalNetworks(ctx, created.ID, req)
	if err == nil {
		err = d.copySecrets(ctx, created.ID, req)
	}
	if err == nil {
		err = d.cli.ContainerStart(ctx, created.ID, container.StartOptions{})
	}
	if err != nil {
		// Start failed, so nothing ran: remove the container with a context
		// of its own, since ctx may be what failed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		_ = d.cli.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true})
		cancel()
		if port, ok := portInUse(err, req.Service); ok {
			return driver.Instance{}, portError(name, req.Service.Name, port)
		}
		return driver.Instance{}, fmt.Errorf("start %s: %w", name, err)
	}
	c, err := d.cli.ContainerInspect(ctx, created.ID)
	if err != nil {
		return driver.Instance{}, fmt.Errorf("start %s: inspect: %w", name, err)
	}
	return instanceFrom(c), nil
}

// joinExternalNetworks connects a created container to the networks made
// outside Haven that its service lists, with the same aliases as on the
// app's network. The Engine creates a container on one network only
// before API 1.44, so the others are joined before it starts.
func (d *Driver) joinExternalNetworks(ctx context.Context, id string, req driver.StartRequest) error {
	svc := req.Service
	for _, n := range svc.ExternalNetworks {
		// The Engine accepts a created container on a network that does
		// not exist and fails only at start, without saying which service
		// asked: look first.
		if _, err := d.cli.NetworkInspect(ctx, n, network.InspectOptions{}); cerrdefs.IsNotFound(err) {
			return externalNetworkMissing(svc.Name, n)
		} else if err != nil {
			return fmt.Errorf("inspect network %s: %w", n, err)
		}
		ep := &network.EndpointSettings{Aliases: append(append([]string(nil), req.Aliases...), svc.Aliases...)}
		if err := d.cli.NetworkConnect(ctx, n, id, ep); err != nil {
			return fmt.Errorf("join network %s: %w", n, err)
		}
	}
	return nil
}

func externalNetworkMissing(service, name string) error {
	return fmt.Errorf("service %s joins network %s, which is external, and the Engine has no network %s: create it (docker network create %s) or drop `external: true`", service, name, name, name)
}

// containerConfig translates a start request into the Engine's create
// options.
func containerConfig(req driver.StartRequest, env spec.AppEnv) (*container.Config, *container.HostConfig, *network.NetworkingConfig, error) {
	svc := req.Service
	labels := make(map[string]string, len(svc.Labels)+6)
	for k, v := range svc.Labels {
		labels[k] = v
	}
	// Haven's labels win over the service's: they are what List trusts.
	for k, v := range req.Labels.Map() {
		labels[k] = v
	}
	img := svc.ImageID
	if img == "" {
		img = svc.Image
	}
	if img == "" {
		return nil, nil, nil, fmt.Errorf("service %s has no image", svc.Name)
	}
	envList := make([]string, 0, len(svc.Env))
	for k, v := range svc.Env {
		envList = append(envList, k+"="+v)
	}
	sort.Strings(envList)

	cfg := &container.Config{
		Image:        img,
		Labels:       labels,
		Env:          envList,
		WorkingDir:   svc.WorkingDir,
		User:         svc.User,
		ExposedPorts: nat.PortSet{},
	}
	// Nil keeps the image's ENTRYPOINT/CMD; a set value replaces it.
	if len(svc.Entrypoint) > 0 {
		cfg.Entrypoint = svc.Entrypoint
	}
	if len(svc.Command) > 0 {
		cfg.Cmd = svc.Command
	}
	// Every port Haven needs an address for is exposed, so List can rebuild
	// Addrs from the container alone after a restart of Haven.
	for _, p := range servicePorts(svc) {
		cfg.ExposedPorts[p] = struct{}{}
	}
	if grace := svc.StopGracePeriod.D(); grace > 0 {
		s := graceSeconds(grace)
		cfg.StopTimeout = &s
	}
	if h := svc.Health; h != nil && h.Kind == spec.CheckExec && len(h.Command) > 0 {
		h := h.WithDefaults()
		cfg.Healthcheck = &container.HealthConfig{
			Test:          append([]string{"CMD"}, h.Command...),
			Interval:      h.Interval.D(),
			Timeout:       h.Timeout.D(),
			Retries:       h.Retries,
			StartPeriod:   h.StartPeriod.D(),
			StartInterval: h.StartInterval.D(),
		}
	} else if h != nil && h.Kind == spec.CheckNone {
		// healthcheck.disable: the image's HEALTHCHECK does not run either.
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	}

	netName := networkName(env)
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(netName),
		// Haven, not Docker, decides when an instance is replaced.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			NanoCPUs: svc.Resources.NanoCPUs,
			Memory:   svc.Resources.MemoryBytes,
		},
		PortBindings: nat.PortMap{},
	}
	if err := applyContainerOptions(svc.Container, cfg, host); err != nil {
		return nil, nil, nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	for _, p := range svc.Ports {
		port := nat.Port(fmt.Sprintf("%d/%s", p.Target, protocol(p.Protocol)))
		cfg.ExposedPorts[port] = struct{}{}
		host.PortBindings[port] = append(host.PortBindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.Published)})
	}
	for _, m := range svc.Volumes {
		switch m.Type {
		case spec.MountVolume:
			mt := mount.Mount{
				Type:     mount.TypeVolume,
				Target:   m.Target,
				ReadOnly: m.ReadOnly,
				// Labels for the volumes the Engine creates on the fly:
				// anonymous ones, and named ones EnsureEnv did not create.
				VolumeOptions: &mount.VolumeOptions{Labels: envLabels(env), NoCopy: m.NoCopy},
			}
			// An empty Source stays empty: the Engine creates an anonymous
			// volume for this container, removed with it (Stop, Remove).
			if m.Source != "" {
				mt.Source = volumeName(env, req.App, m.Source)
			}
			host.Mounts = append(host.Mounts, mt)
		case spec.MountBind:
			if m.SELinux != "" {
				// Relabelling exists only in the Binds syntax, not in
				// Mounts: "src:dst:ro,z,rslave".
				opts := []string{"rw"}
				if m.ReadOnly {
					opts[0] = "ro"
				}
				opts = append(opts, m.SELinux)
				if m.Propagation != "" {
					opts = append(opts, m.Propagation)
				}
				host.Binds = append(host.Binds, m.Source+":"+m.Target+":"+strings.Join(opts, ","))
				continue
			}
			mt := mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
			if m.Propagation != "" {
				mt.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(m.Propagation)}
			}
			host.Mounts = append(host.Mounts, mt)
		default:
			return nil, nil, nil, fmt.Errorf("volume %s of %s: unknown mount type %q", m.Source, svc.Name, m.Type)
		}
	}
	for _, ref := range svc.Secrets {
		sec, ok := req.App.Secrets[ref.Source]
		if !ok {
			return nil, nil, nil, fmt.Errorf("secret %q used by %s is not declared by app %s", ref.Source, svc.Name, req.App.Name)
		}
		if sec.External {
			continue // copied into the container before it starts (secrets.go)
		}
		// Checked here because the Engine's "bind source path does not
		// exist" does not say which secret it is.
		if _, err := os.Stat(sec.File); err != nil {
			return nil, nil, nil, fmt.Errorf("secret %q: %w", ref.Source, err)
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: sec.File, Target: secretsDir + target, ReadOnly: true})
	}
	if svc.NetworkMode != "" {
		// The host's network or none: no endpoint on the app's network,
		// and nothing to publish (on the host the ports are the host's).
		host.NetworkMode = container.NetworkMode(svc.NetworkMode)
		host.PortBindings = nat.PortMap{}
		return cfg, host, &network.NetworkingConfig{}, nil
	}
	ep := &network.EndpointSettings{Aliases: withContainerName(append(append([]string(nil), req.Aliases...), svc.Aliases...), svc.Container.Name)}
	if svc.IPv4Address != "" || svc.IPv6Address != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: svc.IPv4Address, IPv6Address: svc.IPv6Address}
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: ep}}
	return cfg, host, netCfg, nil
}

// volumeName is the Engine's name of the app's named volume: the one
// Haven made for the app and environment, or an external volume's own.
func volumeName(env spec.AppEnv, app spec.App, name string) string {
	for _, v := range app.Volumes {
		if v.Name == name && v.External != "" {
			return v.External
		}
	}
	return env.ResourceName(name)
}

// servicePorts lists the container ports of svc Haven needs to reach:
// routes, health check, expose and published ports.
func servicePorts(svc spec.Service) []nat.Port {
	seen := map[nat.Port]bool{}
	var ports []nat.Port
	add := func(n int, proto string) {
		if n <= 0 {
			return
		}
		p := nat.Port(fmt.Sprintf("%d/%s", n, protocol(proto)))
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	for _, r := range svc.Routes {
		add(r.Port, "tcp")
	}
	if svc.Health != nil {
		add(svc.Health.Port, "tcp")
	}
	for _, p := range svc.Expose {
		add(p, "tcp")
	}
	for _, p := range svc.Ports {
		add(p.Target, p.Protocol)
	}
	return ports
}

func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// graceSeconds rounds a grace period up to the Engine's whole seconds, so an
// instance never gets less time than asked.
func graceSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// checkPorts fails early, with ErrPortInUse, when a published host port is
// already bound on this machine. The Engine reports the same through its
// userland proxy, but not when the daemon runs with userland-proxy off, and
// then the instance would start unreachable. Only a local Engine shares our
// ports, so the check is skipped for a remote one.
func (d *Driver) checkPorts(svc spec.Service) error {
	if !strings.HasPrefix(d.cli.DaemonHost(), "unix://") {
		return nil
	}
	for _, p := range svc.Ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.Published))
		if protocol(p.Protocol) == "udp" {
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				return portError("", svc.Name, p.Published)
			}
			_ = c.Close()
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return portError("", svc.Name, p.Published)
		}
		_ = l.Close()
	}
	return nil
}

func portError(name, service string, port int) error {
	prefix := ""
	if name != "" {
		prefix = "start " + name + ": "
	}
	return fmt.Errorf("%shost port %d published by service %s is already in use: stop what listens on it or change the service's ports: %w",
		prefix, port, service, driver.ErrPortInUse)
}

// portTaken matches the Engine's two ways of saying a host port is taken: by
// another process (its userland proxy cannot bind) or by another container.
var portTaken = regexp.MustCompile(`(?:listen (?:tcp|udp)[46]? |Bind for )\S*:(\d+)(?::| failed)`)

// portInUse reports whether a start error is a taken host port, and which.
func portInUse(err error, svc spec.Service) (int, bool) {
	msg := err.Error()
	if !strings.Contains(msg, "address already in use") && !strings.Contains(msg, "port is already allocated") {
		return 0, false
	}
	if m := portTaken.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n, true
		}
	}
	if len(svc.Ports) > 0 {
		return svc.Ports[0].Published, true
	}
	return 0, true
}

// removeOptions remove a container with its anonymous volumes, as `docker
// compose down -v` does: they belong to the instance. Named volumes (the
// app's, and external ones) are never removed with a container.
var removeOptions = container.RemoveOptions{Force: true, RemoveVolumes: true}

// Stop stops the container (SIGTERM, then SIGKILL after grace, rounded up to
// whole seconds) and removes it, keeping its named volumes. A container that
// is already gone is not an error.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	s := graceSeconds(grace)
	if err := d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &s}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := d.cli.ContainerRemove(ctx, id, removeOptions); err != nil && !cerrdefs.IsNotFound(err) {
		// A removal already under way (a concurrent Stop) ends the same way.
		if !strings.Contains(err.Error(), "already in progress") {
			return fmt.Errorf("stop %s: remove: %w", id, err)
		}
	}
	return nil
}

// Remove deletes the container, killing it if it still runs. An unknown id
// is reported as driver.ErrNotFound.
func (d *Driver) Remove(ctx context.Context, id string) error {
	if err := d.cli.ContainerRemove(ctx, id, removeOptions); err != nil {
		return notFound("remove", id, err)
	}
	return nil
}

// List returns every container labelled dev.haven.managed=true, running or
// not, as inspected now.
func (d *Driver) List(ctx context.Context) ([]driver.Instance, error) {
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", spec.LabelManaged+"=true"))})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]driver.Instance, 0, len(cs))
	for _, s := range cs {
		if _, ok := spec.ParseInstanceLabels(s.Labels); !ok {
			continue // labelled by hand or by an older Haven: not ours to manage
		}
		// The list summary lacks exit codes, OOM and times: inspect.
		c, err := d.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed since the list
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: inspect %s: %w", s.ID, err)
		}
		out = append(out, instanceFrom(c))
	}
	return out, nil
}

// instanceFrom reads an Instance from an inspected container.
func instanceFrom(c container.InspectResponse) driver.Instance {
	var labels map[string]string
	if c.Config != nil {
		labels = c.Config.Labels
	}
	l, _ := spec.ParseInstanceLabels(labels)
	inst := driver.Instance{ID: c.ID, Labels: l, Addrs: map[int]string{}}
	if c.ContainerJSONBase == nil || c.State == nil {
		inst.ExitCode = -1
		return inst
	}
	st := c.State
	inst.Running = st.Running
	inst.ExitCode = st.ExitCode
	if !st.Running && st.Status == container.StateCreated {
		inst.ExitCode = -1 // never ran: there is no exit status
	}
	inst.OOMKilled = st.OOMKilled
	inst.StartedAt = parseTime(st.StartedAt)
	inst.FinishedAt = parseTime(st.FinishedAt)
	if st.Health != nil && st.Health.Status != container.NoHealthcheck {
		inst.NativeHealth = string(st.Health.Status)
	}
	if c.HostConfig != nil && c.HostConfig.NetworkMode.IsHost() && c.Config != nil {
		// On the host's network the instance listens on this machine.
		for p := range c.Config.ExposedPorts {
			inst.Addrs[p.Int()] = net.JoinHostPort("127.0.0.1", p.Port())
		}
		return inst
	}
	if c.NetworkSettings != nil && c.Config != nil {
		ep := c.NetworkSettings.Networks[networkName(spec.AppEnv{App: l.App, Env: l.Env})]
		if ep != nil && ep.IPAddress != "" {
			for p := range c.Config.ExposedPorts {
				inst.Addrs[p.Int()] = net.JoinHostPort(ep.IPAddress, p.Port())
			}
		}
	}
	return inst
}

// parseTime reads the Engine's RFC 3339 times; its "never" (year 1) and
// anything unreadable become the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
