package docker

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// TestContainerOptionsReachContainer starts one instance with every runtime
// option that can share a container and inspects it through the Engine:
// each compose key reached the container's configuration.
func TestContainerOptionsReachContainer(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	yes := true
	swap := int64(0)
	// Below this process's own hard limit: a sandboxed Engine may not
	// raise one.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	hard := min(int64(lim.Max), 4096)
	soft := hard / 2
	svc := spec.Service{
		Name:  "web",
		Image: healthImage(t),
		Env:   map[string]string{"NAME": "opts"},
		Container: spec.ContainerOptions{
			Name:                   "web-main",
			Hostname:               "web-host",
			Domainname:             "example.internal",
			StopSignal:             "quit",
			StdinOpen:              true,
			Tty:                    true,
			Init:                   &yes,
			ReadOnly:               true,
			Tmpfs:                  []string{"/tmp", "/run:size=65536k,mode=1777"},
			ShmSizeBytes:           128 << 20,
			ExtraHosts:             []string{"db.local:10.0.0.5"},
			DNS:                    []string{"127.0.0.53"},
			DNSSearch:              []string{"corp.internal"},
			DNSOptions:             []string{"ndots:2", "use-vc"},
			CapAdd:                 []string{"NET_BIND_SERVICE"},
			CapDrop:                []string{"MKNOD"},
			Sysctls:                map[string]string{"net.core.somaxconn": "1024"},
			Ulimits:                []spec.Ulimit{{Name: "nofile", Soft: soft, Hard: hard}},
			SecurityOpt:            []string{"no-new-privileges:true"},
			Devices:                []spec.Device{{Source: "/dev/null", Target: "/dev/xnull", Permissions: "rw"}},
			GroupAdd:               []string{"1234"}, // a scratch image has no /etc/group to look a name up in
			IPC:                    "shareable",
			Platform:               runtime.GOOS + "/" + runtime.GOARCH,
			Runtime:                "runc",
			NanoCPUs:               500_000_000,
			CPUShares:              512,
			CPUSet:                 "0", // every node has CPU 0
			MemoryReservationBytes: 32 << 20,
			MemorySwappiness:       &swap,
			MemorySwapBytes:        384 << 20, // not the Engine's default, twice the memory limit
			PidsLimit:              100,
			OOMScoreAdj:            300,
		},
		Resources: spec.Resources{MemoryBytes: 256 << 20}, // memswap_limit needs one
		Health: &spec.HealthCheck{Kind: spec.CheckExec, Command: []string{"/check"},
			Interval: spec.Duration(5 * time.Second), StartPeriod: spec.Duration(30 * time.Second), StartInterval: spec.Duration(time.Second)},
		Routes: []spec.Route{{PathPrefix: "/", Port: 8080}},
	}
	app := spec.App{Name: env.App, Services: []spec.Service{svc}}
	if err := d.EnsureEnv(t.Context(), env, app); err != nil {
		t.Fatalf("EnsureEnv: %v", err)
	}
	inst := start(t, d, env, app, svc)
	if body := waitHTTP(t, inst.Addr(8080)); !strings.HasPrefix(body, "opts ") {
		t.Errorf("GET / = %q: the instance does not run with these options", body)
	}
	c, err := d.cli.ContainerInspect(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg, h := c.Config, c.HostConfig
	ep := c.NetworkSettings.Networks[env.ResourceName("default")]
	var aliases []string
	if ep != nil {
		aliases = ep.Aliases
	}
	checks := []struct {
		key  string
		ok   bool
		seen any
	}{
		{"container_name (alias)", slices.Contains(aliases, "web-main") && slices.Contains(aliases, "web"), aliases},
		{"container_name (Docker name stays Haven's)", c.Name == "/"+ContainerName(inst.Labels), c.Name},
		{"hostname", cfg.Hostname == "web-host", cfg.Hostname},
		{"domainname", cfg.Domainname == "example.internal", cfg.Domainname},
		{"stop_signal", cfg.StopSignal == "SIGQUIT", cfg.StopSignal},
		{"stdin_open", cfg.OpenStdin, cfg.OpenStdin},
		{"tty", cfg.Tty, cfg.Tty},
		{"init", h.Init != nil && *h.Init, h.Init},
		{"read_only", h.ReadonlyRootfs, h.ReadonlyRootfs},
		{"tmpfs", len(h.Tmpfs) == 2 && h.Tmpfs["/run"] == "size=65536k,mode=1777", h.Tmpfs},
		{"shm_size", h.ShmSize == 128<<20, h.ShmSize},
		{"extra_hosts", slices.Equal(h.ExtraHosts, []string{"db.local:10.0.0.5"}), h.ExtraHosts},
		{"dns", slices.Equal(h.DNS, []string{"127.0.0.53"}), h.DNS},
		{"dns_search", slices.Equal(h.DNSSearch, []string{"corp.internal"}), h.DNSSearch},
		{"dns_opt", slices.Equal(h.DNSOptions, []string{"ndots:2", "use-vc"}), h.DNSOptions},
		{"cap_add", slices.Equal(capNames(h.CapAdd), []string{"NET_BIND_SERVICE"}), h.CapAdd},
		{"cap_drop", slices.Equal(capNames(h.CapDrop), []string{"MKNOD"}), h.CapDrop},
		{"sysctls", h.Sysctls["net.core.somaxconn"] == "1024", h.Sysctls},
		{"ulimits", len(h.Ulimits) == 1 && *h.Ulimits[0] == container.Ulimit{Name: "nofile", Soft: soft, Hard: hard}, h.Ulimits},
		{"security_opt", slices.Equal(h.SecurityOpt, []string{"no-new-privileges:true"}), h.SecurityOpt},
		{"devices", len(h.Devices) == 1 && h.Devices[0] == container.DeviceMapping{PathOnHost: "/dev/null", PathInContainer: "/dev/xnull", CgroupPermissions: "rw"}, h.Devices},
		{"group_add", slices.Equal(h.GroupAdd, []string{"1234"}), h.GroupAdd},
		{"ipc", h.IpcMode == "shareable", h.IpcMode},
		{"runtime", h.Runtime == "runc", h.Runtime},
		{"cpus", h.NanoCPUs == 500_000_000, h.NanoCPUs},
		{"cpu_shares", h.CPUShares == 512, h.CPUShares},
		{"cpuset", h.CpusetCpus == "0", h.CpusetCpus},
		{"mem_reservation", h.MemoryReservation == 32<<20, h.MemoryReservation},
		{"pids_limit", h.PidsLimit != nil && *h.PidsLimit == 100, h.PidsLimit},
		{"oom_score_adj", h.OomScoreAdj == 300, h.OomScoreAdj},
	}
	if versions.LessThan(d.cli.ClientVersion(), startIntervalAPI) {
		// fitEngine dropped it (and logged so): this Engine cannot take it.
		t.Logf("Engine API %s: healthcheck.start_interval not checked", d.cli.ClientVersion())
	} else {
		checks = append(checks, struct {
			key  string
			ok   bool
			seen any
		}{"healthcheck.start_interval", cfg.Healthcheck != nil && cfg.Healthcheck.StartInterval == time.Second, cfg.Healthcheck})
	}
	// memswap_limit needs the node's swap accounting; without it the
	// Engine drops the limit (with a warning), as docker run does.
	if info, err := d.cli.Info(t.Context()); err != nil {
		t.Fatal(err)
	} else if !info.SwapLimit {
		t.Logf("the node has no swap accounting: memswap_limit not checked (MemorySwap %d)", h.MemorySwap)
	} else if h.MemorySwap != 384<<20 {
		t.Errorf("memswap_limit: MemorySwap %d, want %d", h.MemorySwap, 384<<20)
	}
	// mem_swappiness needs cgroup v1; on cgroup v2 the Engine drops it
	// (with a warning), as docker run does.
	if h.MemorySwappiness != nil && *h.MemorySwappiness != 0 {
		t.Errorf("mem_swappiness: %d, want 0", *h.MemorySwappiness)
	}
	// With a TTY the Engine's log is one raw stream; Logs still gives
	// whole, timestamped lines.
	var lines []driver.LogLine
	if err := d.Logs(t.Context(), inst.ID, driver.LogOptions{}, func(l driver.LogLine) error {
		lines = append(lines, l)
		return nil
	}); err != nil {
		t.Errorf("Logs of a tty container: %v", err)
	}
	if !slices.ContainsFunc(lines, func(l driver.LogLine) bool {
		return l.Text == "opts listening on :8080" && !l.Time.IsZero()
	}) {
		t.Errorf("Logs of a tty container = %+v, want the line \"opts listening on :8080\" with its time", lines)
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s did not reach the container: inspect shows %+v", c.key, c.seen)
		}
	}
}

// TestPrivilegedOptionsReachContainer: privileged and pid: host, which
// conflict with a confined container, on one of their own. The container
// is created and inspected, not started: a sandboxed Engine (as in CI) may
// not be allowed to grant every capability.
func TestPrivilegedOptionsReachContainer(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	no := false
	svc := spec.Service{Name: "root", Image: testAppImage(t),
		// cpu_period/cpu_quota ride here: the other test sets cpus, which
		// the Engine refuses with them.
		Container: spec.ContainerOptions{Privileged: true, PID: "host", UTS: "host", UsernsMode: "host", Init: &no,
			CPUPeriod: 100000, CPUQuota: 50000},
		Health: &spec.HealthCheck{Kind: spec.CheckNone}}
	app := spec.App{Name: env.App, Services: []spec.Service{svc}}
	req := driver.StartRequest{Labels: labelsFor(env, svc), Service: svc, App: app}
	cfg, host, _, err := containerConfig(req, env)
	if err != nil {
		t.Fatal(err)
	}
	created, err := d.cli.ContainerCreate(t.Context(), cfg, host, nil, nil, ContainerName(req.Labels))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	c, err := d.cli.ContainerInspect(t.Context(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.HostConfig.Privileged {
		t.Error("privileged did not reach the container")
	}
	if c.HostConfig.PidMode != "host" {
		t.Errorf("pid: PidMode %q, want host", c.HostConfig.PidMode)
	}
	if c.HostConfig.UTSMode != "host" {
		t.Errorf("uts: UTSMode %q, want host", c.HostConfig.UTSMode)
	}
	if c.HostConfig.UsernsMode != "host" {
		t.Errorf("userns_mode: UsernsMode %q, want host", c.HostConfig.UsernsMode)
	}
	if c.HostConfig.CPUPeriod != 100000 || c.HostConfig.CPUQuota != 50000 {
		t.Errorf("cpu_period/cpu_quota: %d/%d, want 100000/50000", c.HostConfig.CPUPeriod, c.HostConfig.CPUQuota)
	}
	if c.HostConfig.Init == nil || *c.HostConfig.Init {
		t.Errorf("init: false did not reach the container: %v", c.HostConfig.Init)
	}
	if hc := c.Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"NONE"}) {
		t.Errorf("healthcheck.disable: Healthcheck %+v, want Test [NONE] (the image's HEALTHCHECK off too)", hc)
	}
}

// TestNodeMismatch: a device the node lacks or a platform it is not is
// refused at start, naming the key and what to do, and nothing is created.
func TestNodeMismatch(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	other := "linux/s390x"
	if runtime.GOARCH == "s390x" {
		other = "linux/amd64"
	}
	tests := []struct {
		name string
		opts spec.ContainerOptions
		want string
	}{
		{"device", spec.ContainerOptions{Devices: []spec.Device{{Source: "/dev/haven-no-such-device"}}},
			"device /dev/haven-no-such-device (devices:) does not exist on this node; attach it, or remove it from the service's devices"},
		{"platform", spec.ContainerOptions{Platform: other},
			"platform " + other + " (platform:) is not this node's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := spec.Service{Name: tt.name, Image: testAppImage(t), Container: tt.opts}
			app := spec.App{Name: env.App, Services: []spec.Service{svc}}
			_, err := d.Start(t.Context(), driver.StartRequest{Labels: labelsFor(env, svc), Service: svc, App: app})
			if !errors.Is(err, ErrNodeMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v; want ErrNodeMismatch saying %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "service "+tt.name) {
				t.Errorf("error %q does not name the service", err)
			}
		})
	}
}

// capNames drops the "CAP_" newer Engines write before each capability.
func capNames(caps []string) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = strings.TrimPrefix(c, "CAP_")
	}
	return out
}
