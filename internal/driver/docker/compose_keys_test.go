package docker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// TestComposeKeysReachTheContainer starts instances with the compose keys
// that shape mounts and networking (docs/compose.md) and inspects what
// the Engine made of them. One app, so the suite pays for one network.
func TestComposeKeysReachTheContainer(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	ctx := t.Context()

	// An external volume exists before the app and outlives it.
	external := "haven-test-ext-" + randHex(4)
	if _, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: external}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.cli.VolumeRemove(t.Context(), external, true) })

	// So does an external network.
	extNet := "haven-test-extnet-" + randHex(4)
	if _, err := d.cli.NetworkCreate(ctx, extNet, network.CreateOptions{Driver: "bridge"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.cli.NetworkRemove(t.Context(), extNet) })

	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A subnet of our own, so the pinned address cannot clash with other

	third := int(time.Now().UnixNano() % 200)
	subnet := fmt.Sprintf("10.213.%d.0/24", third)
	pinned := fmt.Sprintf("10.213.%d.77", third)
	subnet6 := fmt.Sprintf("fd5e:213:%x::/64", third)
	pinned6 := fmt.Sprintf("fd5e:213:%x::77", third)
	web := spec.Service{
		Name:  "web",
		Image: testAppImage(t),
		Volumes: []spec.Mount{
			{Type: spec.MountVolume, Target: "/anon"},
			{Type: spec.MountVolume, Source: "data", Target: "/data", NoCopy: true},
			{Type: spec.MountVolume, Source: "shared", Target: "/shared"},
			{Type: spec.MountBind, Source: src, Target: "/src", ReadOnly: true, SELinux: "z"},
			{Type: spec.MountBind, Source: src, Target: "/prop", Propagation: "rprivate"},
		},
		Files:            []spec.File{{Target: "/etc/app/app.conf", Content: "port=80\n", Mode: 0o440, UID: 1000, GID: 1000}},
		Aliases:          []string{"web-internal"},
		IPv4Address:      pinned,
		IPv6Address:      pinned6,
		ExternalNetworks: []string{extNet},
		Routes:           []spec.Route{{PathPrefix: "/", Port: 8080}},
	}
	hostPort := freePort(t)
	edge := spec.Service{Name: "edge", Image: testAppImage(t), NetworkMode: spec.NetworkHost,
		Env: map[string]string{"PORT": strconv.Itoa(hostPort)}, Routes: []spec.Route{{PathPrefix: "/", Port: hostPort}}}
	batch := spec.Service{Name: "batch", Image: testAppImage(t), NetworkMode: spec.NetworkNone}
	app := spec.App{Name: env.App, Services: []spec.Service{web, edge, batch},
		Volumes: []spec.Volume{
			{Name: "data", Labels: map[string]string{"backup": "daily"}, DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=16m"}},
			{Name: "shared", External: external},
		},
		Network: &spec.Network{
			Labels:     map[string]string{"zone": "back", spec.LabelApp: "spoofed"},
			DriverOpts: map[string]string{"com.docker.network.bridge.enable_icc": "true"},
			Attachable: true,
			EnableIPv6: true,
			Subnets:    []spec.Subnet{{Subnet: subnet}, {Subnet: subnet6}},
		},
	}
	if err := d.EnsureEnv(ctx, env, app); err != nil {
		t.Fatalf("EnsureEnv: %v", err)
	}

	// The network carries the top-level networks: options.
	n, err := d.cli.NetworkInspect(ctx, env.ResourceName("default"), network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels["zone"] != "back" || n.Labels[spec.LabelApp] != env.App || !n.Attachable ||
		n.Options["com.docker.network.bridge.enable_icc"] != "true" || !n.EnableIPv6 || len(n.IPAM.Config) != 2 || n.IPAM.Config[0].Subnet != subnet {
		t.Errorf("network: labels %v attachable %v ipv6 %v options %v ipam %+v", n.Labels, n.Attachable, n.EnableIPv6, n.Options, n.IPAM.Config)
	}
	// The named volume has its driver options and labels; the external
	// one is not recreated under Haven's name.
	v, err := d.cli.VolumeInspect(ctx, env.ResourceName("data"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Options["type"] != "tmpfs" || v.Options["o"] != "size=16m" || v.Labels["backup"] != "daily" {
		t.Errorf("volume data: options %v labels %v", v.Options, v.Labels)
	}
	if _, err := d.cli.VolumeInspect(ctx, env.ResourceName("shared")); !cerrdefs.IsNotFound(err) {
		t.Errorf("external volume was created under Haven's name (err %v)", err)
	}

	inst := start(t, d, env, app, web)
	c, err := d.cli.ContainerInspect(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	var anon string
	mounts := map[string]container.MountPoint{}
	for _, m := range c.Mounts {
		mounts[m.Destination] = m
	}
	if m := mounts["/anon"]; m.Type != "volume" || m.Name == "" || m.Name == env.ResourceName("") {
		t.Errorf("anonymous volume mount %+v", m)
	} else {
		anon = m.Name
	}
	if m := mounts["/shared"]; m.Name != external {
		t.Errorf("external volume mount %+v, want volume %s", m, external)
	}
	if m := mounts["/src"]; m.Type != "bind" || m.RW || m.Mode != "ro,z" {
		t.Errorf("bind with :ro,z: %+v", m)
	}
	if m := mounts["/prop"]; m.Propagation != "rprivate" {
		t.Errorf("bind propagation %+v", m)
	}
	var noCopy bool
	for _, m := range c.HostConfig.Mounts {
		if m.Target == "/data" && m.VolumeOptions != nil {
			noCopy = m.VolumeOptions.NoCopy
		}
	}
	if !noCopy {
		t.Errorf("volume /data: nocopy not set: %+v", c.HostConfig.Mounts)
	}
	ep := c.NetworkSettings.Networks[env.ResourceName("default")]
	if ep == nil || !containsStr(ep.Aliases, "web") || !containsStr(ep.Aliases, "web-internal") || ep.IPAddress != pinned || ep.GlobalIPv6Address != pinned6 {
		t.Errorf("endpoint %+v, want aliases web and web-internal and addresses %s, %s", ep, pinned, pinned6)
	}
	if ext := c.NetworkSettings.Networks[extNet]; ext == nil || !containsStr(ext.Aliases, "web-internal") {
		t.Errorf("endpoint on the external network %+v, want one with alias web-internal", ext)
	}
	if got := inst.Addr(8080); got != net.JoinHostPort(pinned, "8080") {
		t.Errorf("Addr(8080) = %s", got)
	}
	if got := readFile(t, d, inst.ID, "/etc/app/app.conf"); got != "port=80\n" {
		t.Errorf("config file holds %q", got)
	}
	st, err := d.cli.ContainerStatPath(ctx, inst.ID, "/etc/app/app.conf")
	if err != nil || st.Mode.Perm() != 0o440 {
		t.Errorf("config file stat %+v (%v), want mode 0440", st, err)
	}
	if got := readFile(t, d, inst.ID, "/src/f"); got != "from host" {
		t.Errorf("/src/f holds %q", got)
	}

	// On the host's network the instance is reached at 127.0.0.1.
	hinst := start(t, d, env, app, edge)
	if got, want := hinst.Addr(hostPort), net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)); got != want {
		t.Errorf("host-network Addr = %q, want %q", got, want)
	}
	if body := waitHTTP(t, hinst.Addr(hostPort)); body == "" {
		t.Errorf("host-network instance answered nothing")
	}
	hc, err := d.cli.ContainerInspect(ctx, hinst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !hc.HostConfig.NetworkMode.IsHost() {
		t.Errorf("network mode %q, want host", hc.HostConfig.NetworkMode)
	}
	ninst := start(t, d, env, app, batch)
	nc, err := d.cli.ContainerInspect(ctx, ninst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !nc.HostConfig.NetworkMode.IsNone() || len(ninst.Addrs) != 0 {
		t.Errorf("network mode %q addrs %v, want none and no addresses", nc.HostConfig.NetworkMode, ninst.Addrs)
	}

	// Stopping the instance removes its anonymous volume, not the named
	// or external ones (docker compose down -v).
	if err := d.Stop(ctx, inst.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cli.VolumeInspect(ctx, anon); !cerrdefs.IsNotFound(err) {
		t.Errorf("anonymous volume %s left after Stop (err %v)", anon, err)
	}
	for _, name := range []string{env.ResourceName("data"), external} {
		if _, err := d.cli.VolumeInspect(ctx, name); err != nil {
			t.Errorf("volume %s gone after Stop: %v", name, err)
		}
	}
}

// TestExternalVolumeMissing: an external volume the Engine lacks is an
// error that says how to create it.
func TestExternalVolumeMissing(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	app := spec.App{Name: env.App, Volumes: []spec.Volume{{Name: "shared", External: "haven-test-absent-" + randHex(4)}}}
	err := d.EnsureEnv(t.Context(), env, app)
	if err == nil || !strings.Contains(err.Error(), "docker volume create") {
		t.Fatalf("EnsureEnv = %v, want an error saying to create the volume", err)
	}
	// Likewise an external network, at EnsureEnv and at Start.
	svc := spec.Service{Name: "web", Image: testAppImage(t), ExternalNetworks: []string{"haven-test-absent-" + randHex(4)}}
	app = spec.App{Name: env.App, Services: []spec.Service{svc}}
	if err := d.EnsureEnv(t.Context(), env, app); err == nil || !strings.Contains(err.Error(), "docker network create") {
		t.Fatalf("EnsureEnv = %v, want an error saying to create the network", err)
	}
	if _, err := d.Start(t.Context(), driver.StartRequest{Labels: labelsFor(env, svc), Service: svc, App: app}); err == nil || !strings.Contains(err.Error(), "docker network create") {
		t.Fatalf("Start = %v, want an error saying to create the network", err)
	}
}

// freePort finds a free port below the ephemeral range, where no other
// process's outgoing connection takes it between this check and the
// instance's listen (ports the kernel hands out for ":0" are).
func freePort(t *testing.T) int {
	t.Helper()
	base := 20000 + int(time.Now().UnixNano()%9000)
	for i := 0; i < 100; i++ {
		p := base + i
		l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("no free port in 20000-29099")
	return 0
}
