package spec

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ContainerOptions are the compose keys that shape how one instance's
// process runs (its name, terminal, capabilities, kernel settings,
// resources beyond the limits): what `docker run` flags would set. They
// are part of the service's spec, so changing one is a new revision.
// Drivers apply what they can and the compose mapping documents what they
// cannot (docs/compose.md, "Runtime keys"): the docker driver applies every field;
// the process driver applies StopSignal and logs a warning once per service
// for the others it cannot honour (ProcessIgnored).
//
// Each field's comment names its compose key. The zero value changes
// nothing: the container gets the Engine's defaults.
type ContainerOptions struct {
	// Name is container_name. Other services of the app reach the instance
	// by it (a network alias beside the service name); the Docker container
	// keeps Haven's own name (haven-APP-ENV-SERVICE-ID) so that two
	// environments of one app and a release's overlapping instances never
	// collide. Only for a service with at most one replica.
	Name string `json:"name,omitempty"`
	// Hostname is hostname: the instance's own host name.
	Hostname string `json:"hostname,omitempty"`
	// Domainname is domainname: the instance's NIS domain name.
	Domainname string `json:"domainname,omitempty"`
	// StopSignal is stop_signal: the signal that asks the instance to stop
	// (SIGTERM when empty), followed by SIGKILL after the stop grace
	// period. A name such as "SIGQUIT" (with or without "SIG") or a number.
	StopSignal string `json:"stop_signal,omitempty"`
	// StdinOpen is stdin_open: the process's stdin stays open. Nothing
	// writes to it under Haven; it only matters to programs that exit on
	// EOF. Process driver: ignored.
	StdinOpen bool `json:"stdin_open,omitempty"`
	// Tty is tty: the process runs on a pseudo-terminal. Haven's logs then
	// hold one stream (stdout and stderr merged), as in Docker. Process
	// driver: ignored.
	Tty bool `json:"tty,omitempty"`
	// Init is init: an init process (docker-init) runs as PID 1 and reaps
	// zombies. Nil keeps the Engine's default. Process driver: ignored.
	Init *bool `json:"init,omitempty"`
	// ReadOnly is read_only: the root filesystem is mounted read-only.
	// Process driver: ignored.
	ReadOnly bool `json:"read_only,omitempty"`
	// Tmpfs is tmpfs: "PATH" or "PATH:OPTIONS" (size=64m,mode=1777), each
	// an in-memory filesystem. Process driver: ignored.
	Tmpfs []string `json:"tmpfs,omitempty"`
	// ShmSizeBytes is shm_size: the size of /dev/shm. Process driver:
	// ignored.
	ShmSizeBytes int64 `json:"shm_size,omitempty"`
	// ExtraHosts is extra_hosts, as "HOST:IP" lines added to /etc/hosts.
	// Process driver: ignored.
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	// DNS is dns: the resolvers' addresses. Process driver: ignored.
	DNS []string `json:"dns,omitempty"`
	// DNSSearch is dns_search: the search domains. Process driver: ignored.
	DNSSearch []string `json:"dns_search,omitempty"`
	// DNSOptions is dns_opt: resolver options written to the instance's
	// /etc/resolv.conf ("ndots:2", "use-vc"). Process driver: ignored.
	DNSOptions []string `json:"dns_opt,omitempty"`
	// CapAdd is cap_add: Linux capabilities added ("NET_ADMIN", "ALL").
	// Dangerous ones make the service privileged (Privileged). Process
	// driver: ignored.
	CapAdd []string `json:"cap_add,omitempty"`
	// CapDrop is cap_drop: capabilities removed. Process driver: ignored.
	CapDrop []string `json:"cap_drop,omitempty"`
	// Sysctls is sysctls: namespaced kernel parameters. Process driver:
	// ignored.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Ulimits is ulimits, by resource name ("nofile", "nproc").
	// Process driver: ignored.
	Ulimits []Ulimit `json:"ulimits,omitempty"`
	// SecurityOpt is security_opt ("no-new-privileges:true",
	// "seccomp=unconfined"); unconfined or disabled ones make the service
	// privileged. Process driver: ignored.
	SecurityOpt []string `json:"security_opt,omitempty"`
	// Devices is devices: host devices given to the instance. The docker
	// driver refuses to start an instance whose device does not exist on
	// the node. Process driver: ignored.
	Devices []Device `json:"devices,omitempty"`
	// GroupAdd is group_add: supplementary groups, by name or number.
	// Process driver: ignored.
	GroupAdd []string `json:"group_add,omitempty"`
	// PID is pid: "host" shares the node's PID namespace (privileged).
	// Process driver: ignored (it always shares the node's).
	PID string `json:"pid,omitempty"`
	// UTS is uts: "host" shares the node's host name (privileged), so
	// hostname and domainname cannot be set with it. Process driver:
	// ignored (a process always shares the node's).
	UTS string `json:"uts,omitempty"`
	// UsernsMode is userns_mode: "host" turns the Engine's user-namespace
	// remapping off for the instance, so its root is the node's root
	// (privileged). Process driver: ignored.
	UsernsMode string `json:"userns_mode,omitempty"`
	// IPC is ipc: "host" (privileged), "private" or "shareable". Process
	// driver: ignored.
	IPC string `json:"ipc,omitempty"`
	// Privileged is privileged: every capability and device. Deploying it
	// (or any option Privileged reports) needs the permission to deploy
	// privileged services. Process driver: ignored.
	Privileged bool `json:"privileged,omitempty"`
	// Platform is platform ("linux/amd64"): the docker driver refuses to
	// start an instance on a node of another platform rather than run it
	// emulated. Process driver: ignored.
	Platform string `json:"platform,omitempty"`
	// Runtime is runtime: the OCI runtime the Engine uses ("runc", or one
	// configured on the node such as "runsc"). Process driver: ignored.
	Runtime string `json:"runtime,omitempty"`
	// NanoCPUs is the service-level cpus key, in billionths of a core: the
	// same limit as deploy.resources.limits.cpus (Resources.NanoCPUs),
	// which wins when both are set. Process driver: ignored (it sets no
	// limits).
	NanoCPUs int64 `json:"cpus,omitempty"`
	// CPUShares is cpu_shares: the relative CPU weight (1024 is the
	// default). Process driver: ignored.
	CPUShares int64 `json:"cpu_shares,omitempty"`
	// CPUPeriod and CPUQuota are cpu_period and cpu_quota, in
	// microseconds: the CFS limit cpus sets, written out (quota/period
	// cores; a quota of -1 is no limit). They cannot be set with cpus or
	// deploy.resources.limits.cpus, which the Engine refuses together.
	// Process driver: ignored.
	CPUPeriod int64 `json:"cpu_period,omitempty"`
	CPUQuota  int64 `json:"cpu_quota,omitempty"`
	// CPUSet is cpuset: the CPUs the instance may run on ("0-3", "0,2").
	// The Engine refuses CPUs the node lacks when the instance starts.
	// Process driver: ignored.
	CPUSet string `json:"cpuset,omitempty"`
	// MemoryReservationBytes is mem_reservation: the soft memory limit.
	// Process driver: ignored.
	MemoryReservationBytes int64 `json:"mem_reservation,omitempty"`
	// MemorySwapBytes is memswap_limit: memory plus swap the instance may
	// use (-1: unlimited swap). It needs a memory limit (mem_limit or
	// deploy.resources.limits.memory) no larger than it, as in Docker.
	// Process driver: ignored.
	MemorySwapBytes int64 `json:"memswap_limit,omitempty"`
	// MemorySwappiness is mem_swappiness (0-100); nil keeps the node's.
	// Process driver: ignored.
	MemorySwappiness *int64 `json:"mem_swappiness,omitempty"`
	// PidsLimit is pids_limit: the most processes the instance may have
	// (-1 or 0: unlimited). Process driver: ignored.
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// OOMScoreAdj is oom_score_adj (-1000 to 1000). Process driver:
	// ignored.
	OOMScoreAdj int `json:"oom_score_adj,omitempty"`
	// LogDriver is logging.driver as written. Haven does not use it: it
	// keeps every instance's output itself (`haven logs`), and says so with
	// a warning when the compose file is loaded. Kept so the warning can be
	// given wherever the spec is read.
	LogDriver string `json:"log_driver,omitempty"`
}

// Ulimit is one ulimits entry. Compose's single value sets both Soft and
// Hard.
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// Device is one devices entry: the host's Source path appears at Target
// inside the instance with cgroup Permissions ("rwm" when empty).
type Device struct {
	Source      string `json:"source"`
	Target      string `json:"target,omitempty"`
	Permissions string `json:"permissions,omitempty"`
}

// OptionProblem is one bad value in a ContainerOptions: Key is the compose
// key it came from (for the compose loader to place it in the file), Msg
// says what is wrong and what to write instead.
type OptionProblem struct {
	Key string
	// Item is the entry of Key at fault: a list index ("0") or a mapping
	// key ("nofile"); empty when the whole value is.
	Item string
	Msg  string
}

// Signals are the stop_signal names Haven knows, without "SIG", with their
// Linux numbers: what the Engine and the process driver accept.
var Signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
	"URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31,
}

// SignalNumber returns the number of a stop_signal value ("SIGQUIT",
// "QUIT", "3", "SIGRTMIN+3"), and false when it names no signal.
func SignalNumber(s string) (int, bool) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if n, ok := Signals[name]; ok {
		return n, true
	}
	if rest, ok := strings.CutPrefix(name, "RTMIN"); ok {
		off := 0
		if rest != "" {
			if _, err := fmt.Sscanf(rest, "+%d", &off); err != nil || fmt.Sprintf("+%d", off) != rest {
				return 0, false
			}
		}
		if n := 34 + off; n <= 64 {
			return n, true
		}
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(name, "%d", &n); err == nil && fmt.Sprint(n) == name && n >= 1 && n <= 64 {
		return n, true
	}
	return 0, false
}

// reDNSOpt is one resolv.conf option: a name, with ":VALUE" for those
// that take one.
var reDNSOpt = regexp.MustCompile(`^[a-z][a-z0-9-]*(:[0-9]+)?$`)

// reCPUSet is a cpuset list: CPU numbers and ranges, comma-separated.
var reCPUSet = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)

// dangerousCaps are the capabilities that let a process escape its
// container or take the node over; adding one needs the privileged-deploy
// permission, like privileged: true.
var dangerousCaps = []string{
	"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME",
	"NET_ADMIN", "DAC_READ_SEARCH", "BPF", "PERFMON", "MAC_ADMIN", "MAC_OVERRIDE", "SYSLOG",
}

var (
	reCap    = regexp.MustCompile(`^(CAP_)?[A-Z_]+$`)
	reSysctl = regexp.MustCompile(`^[a-z0-9_]+(\.[a-zA-Z0-9_*/-]+)+$`)
	reHost   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)
	reUlimit = regexp.MustCompile(`^[a-z]+$`)
)

// ulimitNames are the resources setrlimit knows: the names the Engine
// accepts in ulimits.
var ulimitNames = []string{
	"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
	"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
}

// capName puts a capability in the Engine's form, without "CAP_".
func capName(c string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(c)), "CAP_")
}

// PrivilegedKeys lists what in o needs the permission to deploy privileged
// services (nothing: empty): privileged, a dangerous cap_add, pid, ipc,
// uts or userns_mode "host", devices, and a security_opt that turns confinement off. Each item
// names the key as written in compose.
func (o ContainerOptions) PrivilegedKeys() []string {
	var out []string
	if o.Privileged {
		out = append(out, "privileged: true")
	}
	for _, c := range o.CapAdd {
		if slices.Contains(dangerousCaps, capName(c)) {
			out = append(out, "cap_add: "+capName(c))
		}
	}
	if o.PID == "host" {
		out = append(out, "pid: host")
	}
	if o.IPC == "host" {
		out = append(out, "ipc: host")
	}
	if o.UTS == "host" {
		out = append(out, "uts: host")
	}
	if o.UsernsMode == "host" {
		out = append(out, "userns_mode: host")
	}
	for _, d := range o.Devices {
		out = append(out, "devices: "+d.Source)
	}
	for _, s := range o.SecurityOpt {
		if strings.Contains(s, "unconfined") || strings.Contains(s, "disable") {
			out = append(out, "security_opt: "+s)
		}
	}
	return out
}

// ProcessIgnored lists the keys set in o that the process driver cannot
// honour (it runs a plain child process, without namespaces or cgroups of
// its own): it logs them once per service.
func (o ContainerOptions) ProcessIgnored() []string {
	var out []string
	add := func(set bool, key string) {
		if set {
			out = append(out, key)
		}
	}
	add(o.Name != "", "container_name")
	add(o.Hostname != "", "hostname")
	add(o.Domainname != "", "domainname")
	add(o.StdinOpen, "stdin_open")
	add(o.Tty, "tty")
	add(o.Init != nil, "init")
	add(o.ReadOnly, "read_only")
	add(len(o.Tmpfs) > 0, "tmpfs")
	add(o.ShmSizeBytes != 0, "shm_size")
	add(len(o.ExtraHosts) > 0, "extra_hosts")
	add(len(o.DNS) > 0, "dns")
	add(len(o.DNSSearch) > 0, "dns_search")
	add(len(o.DNSOptions) > 0, "dns_opt")
	add(len(o.CapAdd) > 0, "cap_add")
	add(len(o.CapDrop) > 0, "cap_drop")
	add(len(o.Sysctls) > 0, "sysctls")
	add(len(o.Ulimits) > 0, "ulimits")
	add(len(o.SecurityOpt) > 0, "security_opt")
	add(len(o.Devices) > 0, "devices")
	add(len(o.GroupAdd) > 0, "group_add")
	add(o.PID != "", "pid")
	add(o.IPC != "", "ipc")
	add(o.UTS != "", "uts")
	add(o.UsernsMode != "", "userns_mode")
	add(o.CPUPeriod != 0, "cpu_period")
	add(o.CPUQuota != 0, "cpu_quota")
	add(o.Privileged, "privileged")
	add(o.Platform != "", "platform")
	add(o.Runtime != "", "runtime")
	add(o.NanoCPUs != 0, "cpus")
	add(o.CPUShares != 0, "cpu_shares")
	add(o.CPUSet != "", "cpuset")
	add(o.MemoryReservationBytes != 0, "mem_reservation")
	add(o.MemorySwapBytes != 0, "memswap_limit")
	add(o.MemorySwappiness != nil, "mem_swappiness")
	add(o.PidsLimit != 0, "pids_limit")
	add(o.OOMScoreAdj != 0, "oom_score_adj")
	return out
}

// Check returns every bad value in o, for compose (which places each by
// its Key) and for Validate (API deploys). replicas is the service's.
func (o ContainerOptions) Check(replicas int) []OptionProblem {
	var out []OptionProblem
	item := ""
	bad := func(key, format string, args ...any) {
		out = append(out, OptionProblem{Key: key, Item: item, Msg: fmt.Sprintf(format, args...)})
	}
	at := func(i int) { item = strconv.Itoa(i) }
	if o.Name != "" {
		if !ValidName(o.Name) {
			bad("container_name", "container_name %q must be a lowercase DNS label (a-z, 0-9, '-'): Haven makes it a name other services reach the instance by", o.Name)
		}
		if replicas > 1 {
			bad("container_name", "can't set container_name and deploy.replicas %d as container name must be unique; remove container_name (other services reach every replica by the service name) or set replicas to 1", replicas)
		}
	}
	for _, h := range []struct{ key, v string }{{"hostname", o.Hostname}, {"domainname", o.Domainname}} {
		if h.v != "" && (!reHost.MatchString(h.v) || strings.Contains(h.v, "..")) {
			bad(h.key, "%s %q is not a host name; write letters, digits, '-' and '.' only", h.key, h.v)
		}
	}
	for i, opt := range o.DNSOptions {
		at(i)
		if !reDNSOpt.MatchString(opt) {
			bad("dns_opt", "dns_opt %q is not a resolver option; write one like ndots:2, timeout:3 or use-vc", opt)
		}
	}
	item = ""
	if o.CPUSet != "" && !reCPUSet.MatchString(o.CPUSet) {
		bad("cpuset", "cpuset %q is not a list of CPUs; write numbers and ranges like 0-3 or 0,2", o.CPUSet)
	}
	if o.StopSignal != "" {
		if _, ok := SignalNumber(o.StopSignal); !ok {
			bad("stop_signal", "stop_signal %q is not a signal; write a name such as SIGTERM, SIGQUIT, SIGINT or SIGUSR1", o.StopSignal)
		}
	}
	for i, t := range o.Tmpfs {
		at(i)
		p, _, _ := strings.Cut(t, ":")
		if !path.IsAbs(p) {
			bad("tmpfs", "tmpfs %q must start with an absolute path inside the container, like /tmp or /run:size=64m", t)
		}
	}
	item = ""
	if o.ShmSizeBytes < 0 {
		bad("shm_size", "shm_size must not be negative; write a size like 64m")
	}
	for i, h := range o.ExtraHosts {
		at(i)
		name, ip, ok := strings.Cut(h, ":")
		if !ok || !reHost.MatchString(name) || (net.ParseIP(ip) == nil && ip != "host-gateway") {
			bad("extra_hosts", "extra_hosts entry %q must be HOST:IP (or HOST=IP), like db.local:10.0.0.5 or host.docker.internal:host-gateway", h)
		}
	}
	for i, d := range o.DNS {
		at(i)
		if net.ParseIP(d) == nil {
			bad("dns", "dns %q is not an IP address; write the resolver's address, like 1.1.1.1", d)
		}
	}
	for i, d := range o.DNSSearch {
		at(i)
		if !reHost.MatchString(d) {
			bad("dns_search", "dns_search %q is not a domain name", d)
		}
	}
	for _, key := range []string{"cap_add", "cap_drop"} {
		caps := o.CapAdd
		if key == "cap_drop" {
			caps = o.CapDrop
		}
		for i, c := range caps {
			at(i)
			if !reCap.MatchString(strings.ToUpper(strings.TrimSpace(c))) {
				bad(key, "%s %q is not a capability name; write one like NET_BIND_SERVICE or CHOWN (see capabilities(7))", key, c)
			}
		}
	}
	for k := range o.Sysctls {
		item = k
		if !reSysctl.MatchString(k) {
			bad("sysctls", "sysctl %q is not a kernel parameter name; write one like net.core.somaxconn", k)
		}
	}
	for _, u := range o.Ulimits {
		item = u.Name
		switch {
		case !reUlimit.MatchString(u.Name) || !slices.Contains(ulimitNames, u.Name):
			bad("ulimits", "ulimit %q is not a resource limit; use one of %s", u.Name, strings.Join(ulimitNames, ", "))
		case u.Soft < -1 || u.Hard < -1:
			bad("ulimits", "ulimit %s must be -1 (unlimited) or more", u.Name)
		case u.Hard != -1 && (u.Soft == -1 || u.Soft > u.Hard):
			bad("ulimits", "ulimit %s: soft limit %d is above the hard limit %d; write `%s: {soft: N, hard: M}` with N <= M", u.Name, u.Soft, u.Hard, u.Name)
		}
	}
	for i, d := range o.Devices {
		at(i)
		if !path.IsAbs(d.Source) || (d.Target != "" && !path.IsAbs(d.Target)) {
			bad("devices", "device %q must be an absolute host path, like /dev/fuse or /dev/ttyUSB0:/dev/ttyUSB0", d.Source)
		}
		if strings.Trim(d.Permissions, "rwm") != "" {
			bad("devices", "device %s: permissions %q must be made of r, w and m", d.Source, d.Permissions)
		}
	}
	item = ""
	switch o.PID {
	case "", "host":
	default:
		bad("pid", "pid %q is not supported by Haven; write `pid: host` or remove it (sharing another container's namespace ties two instances' lifetimes)", o.PID)
	}
	switch o.IPC {
	case "", "host", "private", "shareable", "none":
	default:
		bad("ipc", "ipc %q is not supported by Haven; write host, private, shareable or none (sharing another container's ipc ties two instances' lifetimes)", o.IPC)
	}
	switch o.UTS {
	case "":
	case "host":
		if o.Hostname != "" || o.Domainname != "" {
			bad("uts", "uts: host gives the instance the node's host name, so hostname and domainname cannot be set with it; remove one or the other")
		}
	default:
		bad("uts", "uts %q is not supported by Haven; write `uts: host` or remove it", o.UTS)
	}
	if o.UsernsMode != "" && o.UsernsMode != "host" {
		bad("userns_mode", "userns_mode %q is not supported by Haven; write `userns_mode: host` or remove it (the Engine's own user-namespace setting applies)", o.UsernsMode)
	}
	if o.CPUPeriod != 0 && (o.CPUPeriod < 1000 || o.CPUPeriod > 1_000_000) {
		bad("cpu_period", "cpu_period %d must be from 1000 to 1000000 microseconds (1ms to 1s); 100000 is the default", o.CPUPeriod)
	}
	if o.CPUQuota != 0 && o.CPUQuota != -1 && o.CPUQuota < 1000 {
		bad("cpu_quota", "cpu_quota %d must be at least 1000 microseconds (1ms), or -1 for no limit", o.CPUQuota)
	}
	if o.NanoCPUs != 0 && (o.CPUPeriod != 0 || o.CPUQuota != 0) {
		bad("cpu_quota", "cpus and cpu_quota/cpu_period set the same CPU limit, and the Engine refuses them together; keep one of them")
	}
	if o.Platform != "" {
		if goos, _, ok := strings.Cut(o.Platform, "/"); !ok || goos == "" {
			bad("platform", "platform %q must be OS/ARCH, like linux/amd64", o.Platform)
		}
	}
	if o.NanoCPUs < 0 {
		bad("cpus", "cpus must not be negative")
	}
	if o.CPUShares < 0 {
		bad("cpu_shares", "cpu_shares must not be negative; 1024 is the default weight")
	}
	if o.MemoryReservationBytes < 0 {
		bad("mem_reservation", "mem_reservation must not be negative")
	}
	if s := o.MemorySwappiness; s != nil && (*s < 0 || *s > 100) {
		bad("mem_swappiness", "mem_swappiness %d must be between 0 and 100", *s)
	}
	if o.OOMScoreAdj < -1000 || o.OOMScoreAdj > 1000 {
		bad("oom_score_adj", "oom_score_adj %d must be between -1000 and 1000", o.OOMScoreAdj)
	}
	return out
}

// containerNameClashes reports container_names that another service of the
// app is already reached by: its name or its own container_name. Both are
// names on the app's network, so one would answer for the other.
func containerNameClashes(services []Service) []string {
	owner := map[string]string{}
	for _, s := range services {
		owner[s.Name] = s.Name
	}
	var out []string
	for _, s := range services {
		n := s.Container.Name
		if n == "" || n == s.Name {
			continue
		}
		if o, taken := owner[n]; taken {
			out = append(out, fmt.Sprintf("service %s: container_name %q is already the name of service %s on the app's network; choose another container_name", s.Name, n, o))
			continue
		}
		owner[n] = s.Name
	}
	return out
}

// readOnlySecrets refuses read_only with an external secret: the docker
// driver copies an external secret's value into the container before it
// starts, and the Engine takes no copy onto a read-only root filesystem.
// File secrets are bind-mounted and work with read_only.
func readOnlySecrets(s Service, secrets map[string]Secret) string {
	if !s.Container.ReadOnly {
		return ""
	}
	for _, ref := range s.Secrets {
		if sec, ok := secrets[ref.Source]; ok && sec.External {
			return fmt.Sprintf("read_only: true cannot be given the external secret %q (its value is copied into the container's filesystem before it starts); give it as a file secret (`file: ./%s.txt`) or remove read_only", ref.Source, ref.Source)
		}
	}
	return ""
}
