package compose

import (
	"math"
	"net"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/haven-platform/haven/internal/spec"
)

// DefaultStopGracePeriod is how long an instance gets between SIGTERM and
// SIGKILL when the compose file does not say (docker compose's default).
const DefaultStopGracePeriod = 10 * time.Second

// mapper turns a loaded compose-go project into a spec.App. Problems it
// finds in values (an unpublished port, a volume type Haven lacks) are
// collected with the position of their key.
type mapper struct {
	src          *sources
	project      *types.Project
	explicitName bool
	errs         problems
	// warns are values accepted that change nothing under Haven.
	warns problems
	// composeNames maps the name of a service Haven renamed (into a DNS
	// label) back to the name the files give it, to place problems.
	composeNames map[string]string
}

// serviceName is the name Haven gives a compose service: the same when it
// is a DNS label, else the closest one ("my_api" is "my-api"). Service
// names end up in DNS names, container names and metric labels; the
// compose name stays an alias on the app's network.
func (m *mapper) serviceName(compose string) string {
	if spec.ValidName(compose) {
		return compose
	}
	name := dnsLabel(compose)
	if name == "" {
		return compose // Validate refuses it, with the name as written
	}
	if m.composeNames == nil {
		m.composeNames = map[string]string{}
	}
	m.composeNames[name] = compose
	return name
}

func (m *mapper) app() *spec.App {
	p := m.project
	name := p.Name
	if !m.explicitName && !spec.ValidName(name) {
		name = dnsLabel(name)
	}
	app := &spec.App{Name: name}
	byName := map[string]string{}
	for _, sname := range p.ServiceNames() {
		svc := m.service(p.Services[sname])
		if other, ok := byName[svc.Name]; ok {
			m.errs.add(m.at(sname), "service %s: is named %s under Haven (service names are DNS labels), as service %s is; rename one of them", sname, svc.Name, other)
		}
		byName[svc.Name] = sname
		app.Services = append(app.Services, svc)
	}
	app.SortServices()
	m.links(app)
	app.Network = m.network()

	for vname, v := range p.Volumes {
		vol := spec.Volume{Name: vname, Labels: nonEmpty(v.Labels), Driver: v.Driver, DriverOpts: nonEmpty(v.DriverOpts)}
		if bool(v.External) {
			vol.External = v.Name
			if vol.External == "" {
				vol.External = vname
			}
		} else if _, named := m.src.find("volumes", vname, "name"); named {
			m.warns.add(m.src.best("volumes", vname, "name"), "volume %s: key `name` changes nothing under Haven: Haven names the volume per app and environment so environments never share data; to mount an existing volume add `external: true`", vname)
		}
		app.Volumes = append(app.Volumes, vol)
	}
	sort.Slice(app.Volumes, func(i, j int) bool { return app.Volumes[i].Name < app.Volumes[j].Name })

	for sname, s := range p.Secrets {
		if s.File == "" && !bool(s.External) {
			m.errs.add(m.src.best("secrets", sname), "secret %s: needs `file: ./%s.txt` or `external: true` (a value set with `haven secret set %s --env ENV`)", sname, sname, sname)
			continue
		}
		if app.Secrets == nil {
			app.Secrets = map[string]spec.Secret{}
		}
		sec := spec.Secret{Name: sname, External: bool(s.External)}
		if s.File != "" {
			sec.File = absPath(p.WorkingDir, s.File)
		}
		app.Secrets[sname] = sec
	}
	return app
}

func (m *mapper) at(svc string, path ...string) Position {
	if orig, ok := m.composeNames[svc]; ok {
		svc = orig
	}
	return m.src.best(append([]string{"services", svc}, path...)...)
}

func (m *mapper) service(s types.ServiceConfig) spec.Service {
	out := spec.Service{
		Name:            m.serviceName(s.Name),
		Image:           s.Image,
		Entrypoint:      s.Entrypoint,
		Command:         s.Command,
		WorkingDir:      s.WorkingDir,
		User:            s.User,
		Env:             resolved(s.Environment),
		Labels:          nonEmpty(s.Labels),
		Replicas:        s.GetScale(),
		Restart:         m.restart(s),
		StopGracePeriod: spec.Duration(DefaultStopGracePeriod),
	}
	if s.StopGracePeriod != nil {
		out.StopGracePeriod = spec.Duration(*s.StopGracePeriod)
	}
	if b := s.Build; b != nil {
		out.Build = &spec.Build{
			Context:    absPath(m.project.WorkingDir, b.Context),
			Dockerfile: b.Dockerfile,
			Args:       resolved(b.Args),
			Target:     b.Target,
		}
		if out.Image == "" {
			// The tag docker compose gives a built image, so `docker
			// compose build` and Haven name the same image.
			out.Image = m.project.Name + "-" + s.Name
		}
	}
	out.Ports = m.ports(s)
	out.Expose = m.expose(s)
	configMounts, files := m.configs(s)
	out.Volumes = append(m.volumes(s), m.volumesFrom(s, map[string]bool{s.Name: true})...)
	out.Volumes = append(out.Volumes, configMounts...)
	out.Files = files
	out.Networks = append(out.Networks, s.NetworksByPriority()...)
	sort.Strings(out.Networks)
	m.serviceNetworks(s, &out)
	out.DependsOn = m.dependsOn(s)
	out.Health = m.health(s)
	if s.MemLimit > 0 {
		out.Resources.MemoryBytes = int64(s.MemLimit)
	}
	if d := s.Deploy; d != nil && d.Resources.Limits != nil {
		if d.Resources.Limits.NanoCPUs > 0 {
			out.Resources.NanoCPUs = nanoCPUs(d.Resources.Limits.NanoCPUs)
		}
		if d.Resources.Limits.MemoryBytes > 0 {
			out.Resources.MemoryBytes = int64(d.Resources.Limits.MemoryBytes)
		}
	}
	if d := s.Deploy; d != nil && d.Mode == "global" {
		// One instance per node, and Haven runs on one node.
		out.Replicas = 1
	}
	if d := s.Deploy; d != nil && d.RestartPolicy != nil {
		out.Restart = m.restartPolicy(s.Name, d.RestartPolicy.Condition, out.Restart)
	}
	out.Secrets = m.secrets(s)
	if out.Name != s.Name {
		if out.NetworkMode == "" {
			out.Aliases = uniqueSorted(append(out.Aliases, s.Name))
		}
		m.warns.add(m.at(s.Name), "service %s: is named %s under Haven, as service names are DNS labels (they name containers, DNS entries and metrics); other services still reach it as %s. Use %s with haven commands, or rename the service", s.Name, out.Name, s.Name, out.Name)
	}
	out.Container = m.container(s)
	out.RestartRetries = m.restartRetries(s)
	var xh xHaven
	if x, ok := s.Extensions[xHavenKey]; ok {
		xh = m.xHaven(s.Name, x)
		out.Routes = xh.routes
		if xh.health != nil {
			out.Health = xh.health
		}
		out.Release = xh.release
	}
	out.Alerts = xh.alerts
	if u := m.updateConfig(s, xh.hasRelease); u != nil {
		out.Release = u
	}
	if len(out.Ports) > 0 && (out.Release != nil || !xh.hasRelease) {
		out.Release = m.portRelease(&out, out.Release)
	} else if out.NetworkMode == spec.NetworkHost && (out.Release != nil || !xh.hasRelease) {
		out.Release = m.hostRelease(&out, out.Release)
	}
	return out
}

// nanoCPUs converts compose's float cpus to billionths of a core. The value
// is a float32; going through its shortest decimal form keeps "0.1" from
// becoming 100000001.
func nanoCPUs(c types.NanoCPUs) int64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(c), 'f', -1, 32), 64)
	return int64(math.Round(f * 1e9))
}

func (m *mapper) restart(s types.ServiceConfig) spec.RestartPolicy {
	policy, _, _ := strings.Cut(s.Restart, ":")
	switch policy {
	case "", types.RestartPolicyAlways, types.RestartPolicyUnlessStopped:
		// Unset means always: a production platform brings dead instances
		// back. unless-stopped differs only across daemon restarts, which
		// Haven handles itself.
		return spec.RestartAlways
	case types.RestartPolicyOnFailure:
		// on-failure:N's N is read by restartRetries (container.go).
		return spec.RestartOnFailure
	case types.RestartPolicyNo:
		return spec.RestartNever
	}
	m.errs.add(m.at(s.Name, "restart"), "service %s: restart %q is not a restart policy; use no, always, on-failure or unless-stopped", s.Name, s.Restart)
	return spec.RestartPolicy(s.Restart)
}

func (m *mapper) ports(s types.ServiceConfig) []spec.PortMapping {
	var out []spec.PortMapping
	for i, p := range s.Ports {
		pos := m.at(s.Name, "ports", strconv.Itoa(i))
		if p.Published == "" {
			m.errs.add(pos, "service %s: port %d has no published host port; Haven does not pick random host ports: write \"HOST:%d\", or use expose/x-haven.routes to keep it off the host", s.Name, p.Target, p.Target)
			continue
		}
		published, err := strconv.Atoi(p.Published)
		if err != nil {
			m.errs.add(pos, "service %s: published port %q is not a single port; Haven publishes one host port per mapping: list each port separately", s.Name, p.Published)
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if p.Mode == "ingress" {
			m.warns.add(m.at(s.Name, "ports", strconv.Itoa(i), "mode"), "service %s: `mode: ingress` changes nothing under Haven: the port is published on this machine as with mode host (Swarm's routing mesh has no place on one node); route HTTP through x-haven.routes", s.Name)
		}
		out = append(out, spec.PortMapping{Name: p.Name, HostIP: p.HostIP, Published: published, Target: int(p.Target), Protocol: proto})
	}
	return out
}

func (m *mapper) expose(s types.ServiceConfig) []int {
	var out []int
	for _, e := range s.Expose {
		spec, _, _ := strings.Cut(e, "/") // the protocol does not matter on the app network
		lo, hi, isRange := strings.Cut(spec, "-")
		a, errA := strconv.Atoi(lo)
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.Atoi(hi)
		}
		if errA != nil || errB != nil || b < a || b-a > 1000 {
			m.errs.add(m.at(s.Name, "expose"), "service %s: expose %q is not a port or port range; write a number like 8080", s.Name, e)
			continue
		}
		for p := a; p <= b; p++ {
			out = append(out, p)
		}
	}
	return out
}

func (m *mapper) volumes(s types.ServiceConfig) []spec.Mount {
	var out []spec.Mount
	for i, v := range s.Volumes {
		pos := m.at(s.Name, "volumes", strconv.Itoa(i))
		switch v.Type {
		case types.VolumeTypeVolume:
			// An empty Source is an anonymous volume: one per instance,
			// removed with it.
			mt := spec.Mount{Type: spec.MountVolume, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Volume != nil {
				mt.NoCopy = v.Volume.NoCopy
			}
			out = append(out, mt)
		case types.VolumeTypeBind:
			mt := spec.Mount{Type: spec.MountBind, Source: absPath(m.project.WorkingDir, v.Source), Target: v.Target, ReadOnly: v.ReadOnly}
			if b := v.Bind; b != nil {
				mt.SELinux = b.SELinux
				mt.Propagation = b.Propagation
			}
			if mt.SELinux != "" && mt.SELinux != "z" && mt.SELinux != "Z" {
				m.errs.add(pos, "service %s: bind option %q is not an SELinux label; use z (shared) or Z (private)", s.Name, mt.SELinux)
			}
			out = append(out, mt)
		default:
			m.errs.add(pos, "service %s: %s mounts are not supported by Haven yet; use a named volume or a bind mount", s.Name, v.Type)
		}
	}
	return out
}

// volumesFrom mounts what `volumes_from` names: every named volume and
// bind mount of each service listed (and of the services they take theirs
// from), read-only with `:ro`, at targets s does not mount itself, as
// Docker does. seen holds the services on the way, to stop at a cycle.
// An anonymous volume cannot be shared under Haven, which makes one per
// instance, and a container outside the app is not Haven's to mount from:
// both are refused with what to write instead.
func (m *mapper) volumesFrom(s types.ServiceConfig, seen map[string]bool) []spec.Mount {
	own := map[string]bool{}
	for _, v := range s.Volumes {
		own[v.Target] = true
	}
	var out []spec.Mount
	for i, from := range s.VolumesFrom {
		pos := m.at(s.Name, "volumes_from", strconv.Itoa(i))
		name, mode := from, ""
		if rest, ok := strings.CutPrefix(from, "container:"); ok {
			m.errs.add(pos, "service %s: volumes_from %q: Haven mounts volumes only from the app's own services; run that container as a service of the app, or declare the volume under top-level `volumes:` (external: true for an existing one) and mount it", s.Name, rest)
			continue
		}
		name = strings.TrimPrefix(name, "service:")
		name, mode, _ = strings.Cut(name, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			m.errs.add(pos, "service %s: volumes_from %q: %q is not a mount mode; write SERVICE, SERVICE:ro or SERVICE:rw", s.Name, from, mode)
			continue
		}
		other, ok := m.project.Services[name]
		if !ok {
			m.errs.add(pos, "service %s: volumes_from %q: there is no service %s in this file; name one of the app's services", s.Name, from, name)
			continue
		}
		if seen[name] {
			continue // a cycle: its mounts are already on the way
		}
		seen[name] = true
		mounts := append(m.volumes(other), m.volumesFrom(other, seen)...)
		for _, mt := range mounts {
			if own[mt.Target] {
				continue
			}
			if mt.Type == spec.MountVolume && mt.Source == "" {
				m.errs.add(pos, "service %s: volumes_from %s: %s's volume at %s is anonymous, and Haven makes an anonymous volume per instance, so it cannot be shared; name it under top-level `volumes:` and mount it in both services", s.Name, name, name, mt.Target)
				continue
			}
			if mode == "ro" {
				mt.ReadOnly = true
			}
			own[mt.Target] = true
			out = append(out, mt)
		}
	}
	return out
}

// configs mounts the service's file configs as file secrets are mounted:
// the file, read-only, at the target (compose's default: /<config name>).
// A config with content (or environment, which compose-go turns into
// content) is a file written into the instance before it starts.
func (m *mapper) configs(s types.ServiceConfig) ([]spec.Mount, []spec.File) {
	var mounts []spec.Mount
	var files []spec.File
	for i, ref := range s.Configs {
		c, ok := m.project.Configs[ref.Source]
		if !ok {
			continue // compose-go reports undeclared configs
		}
		pos := m.at(s.Name, "configs", strconv.Itoa(i))
		target := ref.Target
		if target == "" {
			target = "/" + ref.Source
		}
		if !path.IsAbs(target) {
			target = "/" + target
		}
		target = path.Clean(target)
		switch {
		case c.File != "":
			if ref.UID != "" || ref.GID != "" || ref.Mode != nil {
				m.warns.add(pos, "service %s: config %s: uid, gid and mode change nothing under Haven for a config from a file: it is bind-mounted read-only as the file is; set its owner and mode on the host, or use `content:`", s.Name, ref.Source)
			}
			mounts = append(mounts, spec.Mount{Type: spec.MountBind, Source: absPath(m.project.WorkingDir, c.File), Target: target, ReadOnly: true})
		case c.Content != "" || c.Environment != "":
			if c.Content == "" {
				m.errs.add(m.src.best("configs", ref.Source, "environment"), "config %s: variable %s is not set; set it, or give the config `file:` or `content:`", ref.Source, c.Environment)
				continue
			}
			f := spec.File{Target: target, Content: c.Content}
			var err error
			if f.UID, err = atoiOr0(ref.UID); err != nil {
				m.errs.add(pos, "service %s: config %s: uid %q is not a number; Haven writes the file with numeric ids", s.Name, ref.Source, ref.UID)
			}
			if f.GID, err = atoiOr0(ref.GID); err != nil {
				m.errs.add(pos, "service %s: config %s: gid %q is not a number; Haven writes the file with numeric ids", s.Name, ref.Source, ref.GID)
			}
			if ref.Mode != nil {
				f.Mode = uint32(*ref.Mode)
			}
			files = append(files, f)
		default:
			m.errs.add(m.src.best("configs", ref.Source), "config %s: needs `file: ./%s` or `content:`", ref.Source, ref.Source)
		}
	}
	return mounts, files
}

func atoiOr0(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// serviceNetworks reads network_mode and the per-network keys: Haven puts
// every service on the app's one network, so the aliases and addresses
// of all the networks a service lists apply to it there.
func (m *mapper) serviceNetworks(s types.ServiceConfig, out *spec.Service) {
	switch mode := s.NetworkMode; {
	case mode == "", mode == "bridge", mode == "default":
	case mode == "host":
		out.NetworkMode = spec.NetworkHost
	case mode == "none":
		out.NetworkMode = spec.NetworkNone
	case strings.HasPrefix(mode, "service:"), strings.HasPrefix(mode, "container:"):
		m.errs.add(m.at(s.Name, "network_mode"), "service %s: network_mode %q is not supported: Haven replaces the instances of each service on its own, so a network namespace borrowed from another one would vanish at its next release; run both processes in one service, or let them talk by name on the app's network", s.Name, mode)
	default:
		m.errs.add(m.at(s.Name, "network_mode"), "service %s: network_mode %q is not one Haven runs; use host or none, or leave it out for the app's network", s.Name, mode)
	}
	names := make([]string, 0, len(s.Networks))
	for n := range s.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cfg := s.Networks[n]
		if decl, ok := m.project.Networks[n]; ok && bool(decl.External) {
			// A network made outside Haven: the instances join it too.
			engineName := decl.Name
			if engineName == "" {
				engineName = n
			}
			out.ExternalNetworks = append(out.ExternalNetworks, engineName)
			if cfg != nil && (cfg.Ipv4Address != "" || cfg.Ipv6Address != "") {
				m.errs.add(m.at(s.Name, "networks", n), "service %s: network %s is external, and Haven pins addresses on the app's own network only; move ipv4_address/ipv6_address to a network Haven creates", s.Name, n)
			}
			if cfg != nil {
				out.Aliases = append(out.Aliases, cfg.Aliases...)
			}
			continue
		}
		if cfg == nil {
			continue
		}
		out.Aliases = append(out.Aliases, cfg.Aliases...)
		for _, a := range []struct {
			key  string
			val  string
			into *string
		}{{"ipv4_address", cfg.Ipv4Address, &out.IPv4Address}, {"ipv6_address", cfg.Ipv6Address, &out.IPv6Address}} {
			if a.val == "" {
				continue
			}
			if *a.into != "" && *a.into != a.val {
				m.errs.add(m.at(s.Name, "networks", n, a.key), "service %s: %s %s and %s on two networks: Haven puts the service on one network, where it has one address; keep one", s.Name, a.key, *a.into, a.val)
				continue
			}
			*a.into = a.val
		}
	}
	for _, a := range []struct{ key, addr string }{{"ipv4_address", out.IPv4Address}, {"ipv6_address", out.IPv6Address}} {
		if a.addr != "" && !m.inSubnet(a.addr) {
			m.errs.add(m.at(s.Name, "networks"), "service %s: %s %s needs a subnet of the app's network that holds it: add `ipam: {config: [{subnet: ...}]}` with such a subnet to the network under top-level `networks:`", s.Name, a.key, a.addr)
		}
	}
	if out.NetworkMode == spec.NetworkHost {
		for i, p := range out.Ports {
			if p.Published != p.Target {
				m.errs.add(m.at(s.Name, "ports", strconv.Itoa(i)), "service %s: port %d:%d cannot be published on the host's network, where the instance listens on the machine's own ports: make the program listen on %d, or drop network_mode", s.Name, p.Published, p.Target, p.Published)
			} else {
				m.warns.add(m.at(s.Name, "ports", strconv.Itoa(i)), "service %s: port %d changes nothing under Haven: on the host's network the instance listens on the machine's ports itself", s.Name, p.Target)
			}
		}
	}
	out.Aliases = uniqueSorted(out.Aliases)
}

// inSubnet reports whether addr lies in a subnet of a network Haven
// creates (pinned addresses live on the app's network).
func (m *mapper) inSubnet(addr string) bool {
	ip := net.ParseIP(addr)
	for _, n := range m.project.Networks {
		if bool(n.External) {
			continue
		}
		for _, pool := range n.Ipam.Config {
			if pool == nil {
				continue
			}
			if _, cidr, err := net.ParseCIDR(pool.Subnet); err == nil && ip != nil && cidr.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// links turns `links: [db:database]` into the alias database of service
// db. Docker's links on a user network are aliases seen by the linking
// container only; Haven's aliases are seen app-wide.
func (m *mapper) links(app *spec.App) {
	for _, sname := range m.project.ServiceNames() {
		for i, l := range m.project.Services[sname].Links {
			target, alias, ok := strings.Cut(l, ":")
			if !ok || alias == target {
				continue // the service name is an alias already
			}
			svc, found := app.Service(m.serviceName(target))
			if !found {
				m.errs.add(m.at(sname, "links", strconv.Itoa(i)), "service %s: links names %q, which is not a service of this app; fix the name or add the service", sname, target)
				continue
			}
			svc.Aliases = uniqueSorted(append(svc.Aliases, alias))
		}
	}
}

// network folds the top-level networks' options into the app's one
// network. Options on two networks could not both apply.
func (m *mapper) network() *spec.Network {
	names := make([]string, 0, len(m.project.Networks))
	for n := range m.project.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	var out *spec.Network
	from := ""
	for _, n := range names {
		c := m.project.Networks[n]
		if bool(c.External) {
			continue // not Haven's to configure
		}
		if _, named := m.src.find("networks", n, "name"); named {
			m.warns.add(m.src.best("networks", n, "name"), "network %s: key `name` changes nothing under Haven: Haven names the app's network itself, per environment (haven-APP-ENV-default), so environments never share one; to join an existing network add `external: true`", n)
		}
		net := spec.Network{
			DriverOpts: nonEmpty(c.DriverOpts),
			Labels:     nonEmpty(c.Labels),
			Internal:   c.Internal,
			Attachable: c.Attachable,
			EnableIPv6: c.EnableIPv6 != nil && *c.EnableIPv6,
			IPAMDriver: c.Ipam.Driver,
		}
		for _, pool := range c.Ipam.Config {
			if pool != nil {
				net.Subnets = append(net.Subnets, spec.Subnet{Subnet: pool.Subnet, IPRange: pool.IPRange, Gateway: pool.Gateway})
			}
		}
		if reflect.ValueOf(net).IsZero() {
			continue
		}
		if out != nil {
			m.errs.add(m.src.best("networks", n), "network %s: sets options, and so does network %s; Haven puts every service of the app on one network, so only one of them may set driver_opts, ipam, internal, enable_ipv6, attachable or labels", n, from)
			continue
		}
		out, from = &net, n
	}
	return out
}

// restartPolicy maps deploy.restart_policy.condition onto a restart policy.
func (m *mapper) restartPolicy(svc, condition string, dflt spec.RestartPolicy) spec.RestartPolicy {
	switch condition {
	case "":
		return dflt
	case "any":
		return spec.RestartAlways
	case "on-failure":
		return spec.RestartOnFailure
	case "none":
		return spec.RestartNever
	}
	m.errs.add(m.at(svc, "deploy", "restart_policy", "condition"), "service %s: deploy.restart_policy.condition %q is not a condition; use none, on-failure or any", svc, condition)
	return dflt
}

// updateConfig maps deploy.update_config onto a rolling release: each
// batch of parallelism instances is stopped first (Swarm's default
// order) or started first (order: start-first). Nil when not written.
func (m *mapper) updateConfig(s types.ServiceConfig, hasRelease bool) *spec.ReleasePolicy {
	if s.Deploy == nil || s.Deploy.UpdateConfig == nil {
		return nil
	}
	u := s.Deploy.UpdateConfig
	at := func(key ...string) Position {
		return m.at(s.Name, append([]string{"deploy", "update_config"}, key...)...)
	}
	if hasRelease {
		m.errs.add(at(), "service %s: deploy.update_config and x-haven.release both say how to release; keep one of them", s.Name)
		return nil
	}
	batch := 1
	if u.Parallelism != nil {
		batch = int(*u.Parallelism)
	}
	if batch == 0 { // Swarm: all at once
		batch = max(s.GetScale(), 1)
	}
	out := &spec.ReleasePolicy{Strategy: spec.StrategyRolling}
	switch u.Order {
	case "", "stop-first":
		out.MaxUnavailable = batch
	case "start-first":
		out.MaxSurge = batch
	default:
		m.errs.add(at("order"), "service %s: deploy.update_config.order %q is not an order; use stop-first or start-first", s.Name, u.Order)
	}
	switch u.FailureAction {
	case "", "rollback":
	case "pause", "continue":
		m.errs.add(at("failure_action"), "service %s: deploy.update_config.failure_action %s is not supported: Haven rolls a failed release back, so a service is never left half on the new revision; use rollback or remove it", s.Name, u.FailureAction)
	default:
		m.errs.add(at("failure_action"), "service %s: deploy.update_config.failure_action %q is not an action; use rollback", s.Name, u.FailureAction)
	}
	if u.MaxFailureRatio != 0 {
		m.warns.add(at("max_failure_ratio"), "service %s: key `deploy.update_config.max_failure_ratio` changes nothing under Haven: a release rolls back at the first new instance that fails", s.Name)
	}
	return out
}

// hostRelease is portRelease for a service on the host's network: its
// instance holds host ports, so the old one must stop first.
func (m *mapper) hostRelease(svc *spec.Service, p *spec.ReleasePolicy) *spec.ReleasePolicy {
	if p == nil {
		return stopFirst()
	}
	if eff := p.WithDefaults(); eff.Strategy == spec.StrategyRolling && eff.MaxSurge == 0 {
		return p
	}
	m.errs.add(m.at(svc.Name, "network_mode"), "service %s: network_mode host makes the instance listen on the machine's own ports, so a new instance cannot start beside the old one: use `x-haven.release: {strategy: rolling, max_surge: 0, max_unavailable: 1}` or deploy.update_config with order stop-first", svc.Name)
	return nil
}

func uniqueSorted(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	sort.Strings(list)
	return slices.Compact(list)
}

func (m *mapper) dependsOn(s types.ServiceConfig) []spec.Dependency {
	names := make([]string, 0, len(s.DependsOn))
	for n := range s.DependsOn {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []spec.Dependency
	for _, n := range names {
		if _, ok := m.project.Services[n]; !ok {
			continue // an optional dependency (required: false) on a disabled service
		}
		dep := s.DependsOn[n]
		cond := spec.DependencyCondition(dep.Condition)
		if cond == "" {
			cond = spec.ConditionStarted
		}
		if dep.Restart {
			m.warns.add(m.at(s.Name, "depends_on", n, "restart"), "service %s: key `depends_on.%s.restart` changes nothing under Haven: instances of %s are not restarted when %s is replaced; they reconnect as they would after any outage", s.Name, n, s.Name, n)
		}
		out = append(out, spec.Dependency{Service: m.serviceName(n), Condition: cond})
	}
	return out
}

func (m *mapper) health(s types.ServiceConfig) *spec.HealthCheck {
	h := s.HealthCheck
	if h == nil {
		return nil
	}
	if h.Disable || (len(h.Test) > 0 && h.Test[0] == "NONE") {
		return &spec.HealthCheck{Kind: spec.CheckNone}
	}
	out := spec.HealthCheck{Kind: spec.CheckExec}
	switch {
	case len(h.Test) == 0:
		m.errs.add(m.at(s.Name, "healthcheck"), "service %s: healthcheck has no `test`; Haven does not read the image's HEALTHCHECK yet: add test: [\"CMD\", ...]", s.Name)
		return nil
	case h.Test[0] == "CMD":
		out.Command = append([]string(nil), h.Test[1:]...)
	case h.Test[0] == "CMD-SHELL":
		out.Command = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
	}
	if h.Interval != nil {
		out.Interval = spec.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		out.Timeout = spec.Duration(*h.Timeout)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = spec.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		out.StartInterval = spec.Duration(*h.StartInterval)
	}
	out = out.WithDefaults()
	return &out
}

func (m *mapper) secrets(s types.ServiceConfig) []spec.SecretRef {
	var out []spec.SecretRef
	for _, ref := range s.Secrets {
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		// Compose allows "/run/secrets/x" as a target; Haven always mounts
		// under /run/secrets, so only the file name is kept.
		if rest, ok := strings.CutPrefix(target, "/run/secrets/"); ok {
			target = rest
		}
		if strings.Contains(target, "/") || target == "." || target == ".." {
			m.errs.add(m.at(s.Name, "secrets", ref.Source), "service %s: secret target %q must be a file name: Haven mounts secrets at /run/secrets/<target>", s.Name, ref.Target)
			continue
		}
		out = append(out, spec.SecretRef{Source: ref.Source, Target: path.Clean(target)})
	}
	return out
}

// resolved drops variables without a value: compose passes `FOO` (no '=')
// only when FOO is set in the environment, and compose-go has already
// resolved it when it was.
func resolved(m types.MappingWithEquals) map[string]string {
	var out map[string]string
	for k, v := range m {
		if v == nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = *v
	}
	return out
}

func nonEmpty[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return map[string]string(m)
}
