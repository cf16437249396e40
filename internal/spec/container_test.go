package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestSignalNumber(t *testing.T) {
	for in, want := range map[string]int{"SIGTERM": 15, "quit": 3, "SIGUSR1": 10, "9": 9, "SIGRTMIN": 34, "SIGRTMIN+3": 37} {
		if got, ok := SignalNumber(in); !ok || got != want {
			t.Errorf("SignalNumber(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "SIGNOPE", "0", "65", "SIGRTMIN+40", "SIGRTMIN+x", "1.5"} {
		if n, ok := SignalNumber(in); ok {
			t.Errorf("SignalNumber(%q) = %d; want no signal", in, n)
		}
	}
}

func TestPrivilegedKeys(t *testing.T) {
	if got := (ContainerOptions{CapAdd: []string{"CHOWN", "NET_BIND_SERVICE"}, SecurityOpt: []string{"no-new-privileges:true"}, IPC: "private"}).PrivilegedKeys(); len(got) != 0 {
		t.Errorf("harmless options need the privileged permission: %q", got)
	}
	o := ContainerOptions{Privileged: true, CapAdd: []string{"cap_sys_admin"}, PID: "host", IPC: "host",
		Devices: []Device{{Source: "/dev/fuse"}}, SecurityOpt: []string{"seccomp=unconfined"}}
	want := "privileged: true, cap_add: SYS_ADMIN, pid: host, ipc: host, devices: /dev/fuse, security_opt: seccomp=unconfined"
	if got := strings.Join(o.PrivilegedKeys(), ", "); got != want {
		t.Errorf("PrivilegedKeys = %q, want %q", got, want)
	}
}

// TestValidateContainerOptions: an API deploy (no compose file) meets the
// same checks of the runtime options as a compose file.
func TestValidateContainerOptions(t *testing.T) {
	app := App{Name: "shop", Services: []Service{
		{Name: "api", Image: "x", Replicas: 3, Restart: RestartAlways, RestartRetries: 2,
			Container: ContainerOptions{Name: "api-main", StopSignal: "SIGBOGUS", Ulimits: []Ulimit{{Name: "nofile", Soft: 10, Hard: 5}}}},
		{Name: "db", Image: "x", Replicas: 1, Restart: RestartAlways, Container: ContainerOptions{Name: "api"}},
	}}
	err := app.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		"service api: can't set container_name and deploy.replicas 3 as container name must be unique",
		`service api: stop_signal "SIGBOGUS" is not a signal`,
		"service api: ulimit nofile: soft limit 10 is above the hard limit 5",
		"service api: restart retries 2 need restart: on-failure",
		`service db: container_name "api" is already the name of service api on the app's network`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not say %q:\n%v", want, err)
		}
	}
}

// TestReadOnlyExternalSecret: read_only with an external secret is refused
// (the Engine answers "container rootfs is marked read-only" to the copy of
// its value); with a file secret it is fine.
func TestReadOnlyExternalSecret(t *testing.T) {
	app := App{Name: "shop", Services: []Service{{Name: "api", Image: "x", Replicas: 1, Restart: RestartAlways,
		Container: ContainerOptions{ReadOnly: true}, Secrets: []SecretRef{{Source: "tok", Target: "tok"}}}},
		Secrets: map[string]Secret{"tok": {Name: "tok", External: true}}}
	err := app.Validate()
	want := `service api: read_only: true cannot be given the external secret "tok"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate = %v, want %q", err, want)
	}
	app.Secrets["tok"] = Secret{Name: "tok", File: "/run/tok.txt"}
	if err := app.Validate(); err != nil {
		t.Errorf("read_only with a file secret: %v", err)
	}
}

// TestNamespaceAndCPUConflicts: what the Engine refuses together is refused
// at validation, naming both keys: uts: host with a hostname, and cpu_quota
// with cpus or deploy.resources.limits.cpus. uts and userns_mode host are
// privileged.
func TestNamespaceAndCPUConflicts(t *testing.T) {
	app := App{Name: "shop", Services: []Service{
		{Name: "a", Image: "x", Replicas: 1, Restart: RestartAlways,
			Container: ContainerOptions{UTS: "host", Hostname: "h", NanoCPUs: 1e9, CPUQuota: 50000}},
		{Name: "b", Image: "x", Replicas: 1, Restart: RestartAlways, Resources: Resources{NanoCPUs: 1e9},
			Container: ContainerOptions{CPUPeriod: 100000}},
	}}
	err := app.Validate()
	for _, want := range []string{
		"service a: uts: host gives the instance the node's host name, so hostname and domainname cannot be set with it",
		"service a: cpus and cpu_quota/cpu_period set the same CPU limit",
		"service b: deploy.resources.limits.cpus and cpu_quota/cpu_period set the same CPU limit",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not say %q:\n%v", want, err)
		}
	}
	o := ContainerOptions{UTS: "host", UsernsMode: "host"}
	if got, want := strings.Join(o.PrivilegedKeys(), ", "), "uts: host, userns_mode: host"; got != want {
		t.Errorf("PrivilegedKeys = %q, want %q", got, want)
	}
}
