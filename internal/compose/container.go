package compose

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/haven-platform/haven/internal/spec"
)

// containerKeys are the service keys that become spec.ContainerOptions:
// how each instance's process runs. serviceRule takes them with the rest.
// Their values are checked once loaded (spec.ContainerOptions.Check), and
// placed back on their key; docs/compose.md ("Runtime keys") says what each does
// under Haven and which the process driver ignores.
var containerKeys = map[string]*keyRule{
	"container_name": nil, "hostname": nil, "domainname": nil,
	"stop_signal": nil, "stdin_open": nil, "tty": nil, "init": nil,
	"read_only": nil, "tmpfs": nil, "shm_size": nil,
	"extra_hosts": nil, "dns": nil, "dns_search": nil, "dns_opt": nil,
	"cap_add": nil, "cap_drop": nil, "sysctls": nil, "ulimits": nil, "security_opt": nil,
	"devices": {items: &keyRule{known: typeOf[types.DeviceMapping](), fields: map[string]*keyRule{
		"source": nil, "target": nil, "permissions": nil,
	}}},
	"group_add": nil, "pid": nil, "ipc": nil, "privileged": nil,
	"platform": nil, "runtime": nil,
	"cpus": nil, "cpu_shares": nil, "cpuset": nil, "cpu_period": nil, "cpu_quota": nil, "memswap_limit": nil,
	"uts": nil, "userns_mode": nil, "mem_reservation": nil, "mem_swappiness": nil,
	"pids_limit": nil, "oom_score_adj": nil,
	"logging": {known: typeOf[types.LoggingConfig](), fields: map[string]*keyRule{"driver": nil, "options": nil}},
	// restart and healthcheck moved here from keys.go's base map: this
	// file adds on-failure:N and start_interval to them.
	"restart": nil,
	"healthcheck": {known: typeOf[types.HealthCheckConfig](), fields: map[string]*keyRule{
		"test": nil, "interval": nil, "timeout": nil, "retries": nil, "start_period": nil,
		"start_interval": nil, "disable": nil,
	}},
}

// container maps a service's runtime keys onto spec.ContainerOptions. Bad
// values are reported on their key, with what to write instead.
func (m *mapper) container(s types.ServiceConfig) spec.ContainerOptions {
	o := spec.ContainerOptions{
		Name:                   s.ContainerName,
		Hostname:               s.Hostname,
		Domainname:             s.DomainName,
		StopSignal:             s.StopSignal,
		StdinOpen:              s.StdinOpen,
		Tty:                    s.Tty,
		Init:                   s.Init,
		ReadOnly:               s.ReadOnly,
		Tmpfs:                  slices.Clone([]string(s.Tmpfs)),
		ShmSizeBytes:           int64(s.ShmSize),
		DNS:                    slices.Clone([]string(s.DNS)),
		DNSSearch:              slices.Clone([]string(s.DNSSearch)),
		DNSOptions:             slices.Clone(s.DNSOpts),
		CapAdd:                 slices.Clone(s.CapAdd),
		CapDrop:                slices.Clone(s.CapDrop),
		SecurityOpt:            slices.Clone(s.SecurityOpt),
		GroupAdd:               slices.Clone(s.GroupAdd),
		PID:                    s.Pid,
		IPC:                    s.Ipc,
		Privileged:             s.Privileged,
		Platform:               s.Platform,
		Runtime:                s.Runtime,
		NanoCPUs:               nanoCPUs(types.NanoCPUs(s.CPUS)),
		CPUShares:              s.CPUShares,
		CPUSet:                 s.CPUSet,
		CPUPeriod:              s.CPUPeriod,
		MemorySwapBytes:        int64(s.MemSwapLimit),
		CPUQuota:               s.CPUQuota,
		UTS:                    s.Uts,
		UsernsMode:             s.UserNSMode,
		MemoryReservationBytes: int64(s.MemReservation),
		PidsLimit:              s.PidsLimit,
		OOMScoreAdj:            int(s.OomScoreAdj),
	}
	if len(s.ExtraHosts) > 0 {
		o.ExtraHosts = s.ExtraHosts.AsList(":")
		sort.Strings(o.ExtraHosts)
	}
	if len(s.Sysctls) > 0 {
		o.Sysctls = maps.Clone(map[string]string(s.Sysctls))
	}
	// compose-go keeps mem_swappiness as a number with omitempty, so 0
	// (never swap) and unset look alike: the file tells them apart.
	if _, ok := m.src.find("services", s.Name, "mem_swappiness"); ok {
		v := int64(s.MemSwappiness)
		o.MemorySwappiness = &v
	}
	names := slices.Sorted(maps.Keys(s.Ulimits))
	for _, n := range names {
		u := s.Ulimits[n]
		if u == nil {
			continue
		}
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		o.Ulimits = append(o.Ulimits, spec.Ulimit{Name: n, Soft: soft, Hard: hard})
	}
	for _, d := range s.Devices {
		o.Devices = append(o.Devices, spec.Device{Source: d.Source, Target: d.Target, Permissions: d.Permissions})
	}
	if l := s.Logging; l != nil {
		o.LogDriver = l.Driver
		if o.LogDriver == "" {
			o.LogDriver = "json-file" // logging: with options only
		}
		// Accepted so files written for Docker load, but not used: one
		// positioned warning, printed with the loader's others.
		m.warns.add(m.at(s.Name, "logging"), "service %s: logging driver %q is not used: Haven keeps every instance's output itself (read it with `haven logs`); remove `logging:` to silence this", s.Name, o.LogDriver)
	}
	for _, p := range o.Check(s.GetScale()) {
		at := []string{p.Key}
		if p.Item != "" {
			at = append(at, p.Item)
		}
		m.errs.add(m.at(s.Name, at...), "service %s: %s", s.Name, p.Msg)
	}
	return o
}

// restartRetries reads N of `restart: on-failure:N`. compose-go keeps the
// string as written; mapper.restart maps the policy and this the count.
func (m *mapper) restartRetries(s types.ServiceConfig) int {
	policy, n, ok := strings.Cut(s.Restart, ":")
	if !ok {
		return 0
	}
	retries, err := strconv.Atoi(n)
	if policy != types.RestartPolicyOnFailure || err != nil || retries < 0 {
		m.errs.add(m.at(s.Name, "restart"), "service %s: restart %q is not a restart policy; write on-failure:N with N a count of retries (0 or more), or no, always, on-failure, unless-stopped", s.Name, s.Restart)
		return 0
	}
	return retries
}

// locateRuntimeError places compose-go's refusals of the runtime keys
// values (container_name with replicas, a size or number that does not
// parse), which it gives without a position; false for other errors.
func locateRuntimeError(src *sources, msg string) (*Problem, bool) {
	if p, ok := locateContainerName(src, msg); ok {
		return p, true
	}
	var svc, key, sub, why string
	if m := reDecodeValue.FindStringSubmatch(msg); m != nil {
		svc, key, why = m[1], m[2], m[3]
	} else if m := reCastValue.FindStringSubmatch(msg); m != nil {
		svc, key, sub, why = m[1], m[2], strings.TrimPrefix(m[3], "."), m[4]
	} else {
		return nil, false
	}
	hint, ok := valueHints[key]
	if !ok {
		return nil, false
	}
	at := []string{"services", svc, key}
	if sub != "" {
		at = append(at, strings.Split(sub, ".")...)
	}
	return &Problem{Pos: src.best(at...), Msg: fmt.Sprintf("service %s: %s: %s; %s", svc, strings.Join(at[2:], "."), why, hint)}, true
}

var (
	reDecodeValue = regexp.MustCompile(`'services\[([^\]]+)\]\.([a-z_]+)' (.*)$`)
	reCastValue   = regexp.MustCompile(`error while interpolating services\.([^.]+)\.([a-z_]+)((?:\.[^.:\s]+)*): (.*)$`)
)

// valueHints say what to write for a runtime key whose value compose-go
// could not read.
var valueHints = map[string]string{
	"shm_size":        "write a size like 64m (a number of bytes, or with b, k, m or g)",
	"mem_reservation": "write a size like 64m (a number of bytes, or with b, k, m or g)",
	"cpus":            "write a number of cores like 0.5 or 2",
	"cpu_shares":      "write a whole number like 512 (1024 is the default weight)",
	"pids_limit":      "write a whole number like 100 (-1 for no limit)",
	"oom_score_adj":   "write a whole number from -1000 to 1000",
	"mem_swappiness":  "write a whole number from 0 to 100",
	"ulimits":         "write `nofile: 65535` (soft and hard alike) or `nofile: {soft: 1024, hard: 65535}`",
}

// reContainerName is compose-go's refusal of container_name with more than
// one replica (its message names the replicas key first, then the service).
var reContainerName = regexp.MustCompile(`^services\.(scale|deploy\.replicas): can't set container_name and (\S+) as container name must be unique`)

// locateContainerName places compose-go's container_name refusal on the
// service's container_name key and says what to write instead; false when
// msg is another error.
func locateContainerName(src *sources, msg string) (*Problem, bool) {
	sub := reContainerName.FindStringSubmatch(msg)
	if sub == nil {
		return nil, false
	}
	svc := sub[2]
	return &Problem{
		Pos: src.best("services", svc, "container_name"),
		Msg: fmt.Sprintf("services.%s: can't set container_name and %s as container name must be unique; remove container_name (other services reach every replica by the service name %q) or run one replica", svc, sub[1], svc),
	}, true
}

// withKeys returns base with extra's keys added: the service rule is put
// together from the files that map each group of keys.
func withKeys(extra, base map[string]*keyRule) map[string]*keyRule {
	out := maps.Clone(base)
	maps.Copy(out, extra)
	return out
}
