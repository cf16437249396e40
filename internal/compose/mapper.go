package compose

import (
	"math"
	"path"
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
}

func (m *mapper) app() *spec.App {
	p := m.project
	name := p.Name
	if !m.explicitName && !spec.ValidName(name) {
		name = dnsLabel(name)
	}
	app := &spec.App{Name: name}
	for _, sname := range p.ServiceNames() {
		app.Services = append(app.Services, m.service(p.Services[sname]))
	}
	app.SortServices()

	for vname, v := range p.Volumes {
		app.Volumes = append(app.Volumes, spec.Volume{Name: vname, Labels: nonEmpty(v.Labels)})
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
	return m.src.best(append([]string{"services", svc}, path...)...)
}

func (m *mapper) service(s types.ServiceConfig) spec.Service {
	out := spec.Service{
		Name:            s.Name,
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
	out.Volumes = m.volumes(s)
	out.Networks = append(out.Networks, s.NetworksByPriority()...)
	sort.Strings(out.Networks)
	out.DependsOn = m.dependsOn(s)
	out.Health = m.health(s)
	if d := s.Deploy; d != nil && d.Resources.Limits != nil {
		out.Resources = spec.Resources{
			NanoCPUs:    nanoCPUs(d.Resources.Limits.NanoCPUs),
			MemoryBytes: int64(d.Resources.Limits.MemoryBytes),
		}
	}
	out.Secrets = m.secrets(s)
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
	if len(out.Ports) > 0 && (xh.release != nil || !xh.hasRelease) {
		out.Release = m.portRelease(&out, xh.release)
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
		out = append(out, spec.PortMapping{HostIP: p.HostIP, Published: published, Target: int(p.Target), Protocol: proto})
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
			if v.Source == "" {
				m.errs.add(pos, "service %s: anonymous volume at %s is not supported; name it (\"data:%s\") and declare it under top-level `volumes:`", s.Name, v.Target, v.Target)
				continue
			}
			if v.Volume != nil && (v.Volume.NoCopy || v.Volume.Subpath != "") {
				m.errs.add(pos, "service %s: volume options (nocopy, subpath) are not supported by Haven yet; remove them", s.Name)
			}
			out = append(out, spec.Mount{Type: spec.MountVolume, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeBind:
			if b := v.Bind; b != nil && (b.SELinux != "" || b.Propagation != "" || b.Recursive != "") {
				m.errs.add(pos, "service %s: bind options (z, Z, propagation, recursive) are not supported by Haven yet; keep only ro or rw", s.Name)
			}
			out = append(out, spec.Mount{Type: spec.MountBind, Source: absPath(m.project.WorkingDir, v.Source), Target: v.Target, ReadOnly: v.ReadOnly})
		default:
			m.errs.add(pos, "service %s: %s mounts are not supported by Haven yet; use a named volume or a bind mount", s.Name, v.Type)
		}
	}
	return out
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
		cond := spec.DependencyCondition(s.DependsOn[n].Condition)
		if cond == "" {
			cond = spec.ConditionStarted
		}
		out = append(out, spec.Dependency{Service: n, Condition: cond})
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
