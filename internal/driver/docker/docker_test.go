package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/driver/drivertest"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/testbin"
)

// Images the tests build are tagged with this process's run id and removed
// by TestMain once every container using them is gone.
var (
	runID     = randHex(4)
	imagesMu  sync.Mutex
	imageTags []string
	built     = map[string]string{} // tag → image ID, so each is built once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if len(imageTags) > 0 {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err == nil {
			for _, tag := range imageTags {
				if _, err := cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
					fmt.Fprintf(os.Stderr, "cleanup: remove image %s: %v\n", tag, err)
				}
			}
			cli.Close()
		}
	}
	os.Exit(code)
}

// trackImage registers tag for removal by TestMain.
func trackImage(tag string) {
	imagesMu.Lock()
	defer imagesMu.Unlock()
	imageTags = append(imageTags, tag)
}

// testAppImage returns the tag of a scratch image holding internal/testapp
// as /app, built once per test process.
func testAppImage(t *testing.T) string {
	t.Helper()
	tag := "haven-test/testapp:" + runID
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if _, ok := built[tag]; ok {
		return tag
	}
	id, err := BuildScratchImage(t.Context(), testbin.TestApp(t), tag)
	if err != nil {
		t.Fatalf("BuildScratchImage: %v", err)
	}
	built[tag] = id
	imageTags = append(imageTags, tag)
	return tag
}

// healthImage returns the tag of a scratch image holding testapp as /app and
// testdata/check as /check. The image has no shell, so the exec health check
// is a second static binary that asks testapp's /healthz (see
// testdata/check/main.go).
func healthImage(t *testing.T) string {
	t.Helper()
	tag := "haven-test/testapp-check:" + runID
	app := testbin.TestApp(t)
	check := testbin.Build(t, "github.com/haven-platform/haven/internal/driver/docker/testdata/check")
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if _, ok := built[tag]; ok {
		return tag
	}
	d := newDriver(t)
	id, err := buildFiles(t.Context(), d.cli, tag, "FROM scratch\nCOPY app /app\nCOPY check /check\nENTRYPOINT [\"/app\"]\n",
		map[string]string{"app": app, "check": check})
	if err != nil {
		t.Fatalf("build health image: %v", err)
	}
	built[tag] = id
	imageTags = append(imageTags, tag)
	return tag
}

func newDriver(t *testing.T) *Driver {
	t.Helper()
	d, err := New(t.Context())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, drivertest.Harness{
		New: func(t *testing.T) driver.Driver { return newDriver(t) },
		Service: func(t *testing.T, name string, env map[string]string) spec.Service {
			return spec.Service{Name: name, Image: testAppImage(t), Env: env}
		},
	})
}

// newEnv returns a fresh app+environment whose containers, network and
// volumes are removed when the test ends, whatever state it left them in.
func newEnv(t *testing.T, d *Driver, envName string) spec.AppEnv {
	t.Helper()
	env := spec.AppEnv{App: "dk-" + randHex(4), Env: envName}
	cleanupApp(t, d, env.App)
	return env
}

func cleanupApp(t *testing.T, d *Driver, app string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", spec.LabelApp+"="+app))
		cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, c := range cs {
			if err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		ns, _ := d.cli.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			if err := d.cli.NetworkRemove(ctx, n.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		vs, _ := d.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		for _, v := range vs.Volumes {
			if err := d.cli.VolumeRemove(ctx, v.Name, true); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

func labelsFor(env spec.AppEnv, svc spec.Service) spec.InstanceLabels {
	return spec.InstanceLabels{App: env.App, Env: env.Env, Service: svc.Name, Revision: svc.Revision(), Instance: randHex(4)}
}

func start(t *testing.T, d *Driver, env spec.AppEnv, app spec.App, svc spec.Service) driver.Instance {
	t.Helper()
	inst, err := d.Start(t.Context(), driver.StartRequest{Labels: labelsFor(env, svc), Service: svc, App: app, Aliases: []string{svc.Name}})
	if err != nil {
		t.Fatalf("Start(%s): %v", svc.Name, err)
	}
	return inst
}

func TestNewUnavailable(t *testing.T) {
	// A socket file nobody listens on: what a stopped daemon leaves behind.
	sock := filepath.Join(t.TempDir(), "dead.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	t.Setenv("DOCKER_HOST", "unix://"+sock)

	_, err = New(t.Context())
	if !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("New with a dead socket: %v, want ErrUnavailable", err)
	}
	want := "Docker is not running or not reachable at unix://" + sock + ": start Docker, or use --driver process"
	if err.Error() != want {
		t.Errorf("New with a dead socket:\n got %q\nwant %q", err, want)
	}
}

func TestPrepareImageMissing(t *testing.T) {
	d := newDriver(t)
	ref := "haven-test/absent-" + randHex(4) + ":v1"
	_, err := d.PrepareImage(t.Context(), spec.AppEnv{App: "dk", Env: "test"}, spec.Service{Name: "web", Image: ref})
	if !errors.Is(err, driver.ErrImageNotFound) {
		t.Fatalf("PrepareImage(%s): %v, want ErrImageNotFound", ref, err)
	}
	want := `image "` + ref + `" is not present locally and no registry answered; build it or load it (docker load / a build: section)`
	if err.Error() != want {
		t.Errorf("PrepareImage(%s):\n got %q\nwant %q", ref, err, want)
	}
}

func TestPrepareImageBuild(t *testing.T) {
	d := newDriver(t)
	dir := t.TempDir()
	bin, err := os.ReadFile(testbin.TestApp(t))
	if err != nil {
		t.Fatal(err)
	}
	// Stage "app" is what the service targets; stage "broken" copies a file
	// .dockerignore keeps out of the context, so building it must fail.
	files := map[string]string{
		"Dockerfile": "FROM scratch AS app\nARG GREETING\nLABEL greeting=$GREETING\nCOPY bin/testapp /app\nENTRYPOINT [\"/app\"]\n" +
			"FROM scratch AS broken\nCOPY secret.txt /\n",
		".dockerignore": "# comment\nsecret.txt\n*.log\n",
		"secret.txt":    "do not send",
		"debug.log":     "noise",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bin", "testapp"), bin, 0o755); err != nil {
		t.Fatal(err)
	}

	env := spec.AppEnv{App: "dk-" + randHex(4), Env: "test"}
	svc := spec.Service{Name: "web", Build: &spec.Build{Context: dir, Target: "app", Args: map[string]string{"GREETING": "hello"}}}
	tag := "haven/" + env.App + "-web:latest"
	trackImage(tag)
	id, err := d.PrepareImage(t.Context(), env, svc)
	if err != nil {
		t.Fatalf("PrepareImage with build: %v", err)
	}
	img, err := d.cli.ImageInspect(t.Context(), tag)
	if err != nil {
		t.Fatalf("inspect %s: %v", tag, err)
	}
	if img.ID != id || !strings.HasPrefix(id, "sha256:") {
		t.Errorf("PrepareImage returned %q, the tag %s is image %q", id, tag, img.ID)
	}
	if got := img.Config.Labels["greeting"]; got != "hello" {
		t.Errorf("build arg GREETING: image label greeting = %q, want hello", got)
	}
	if got := img.Config.Labels[spec.LabelApp]; got != env.App {
		t.Errorf("image label %s = %q, want %q", spec.LabelApp, got, env.App)
	}

	// The built image runs.
	cleanupApp(t, d, env.App)
	svc.ImageID, svc.Expose = id, []int{8080}
	inst := start(t, d, env, spec.App{Name: env.App}, svc)
	waitHTTP(t, inst.Addr(8080))

	// Without the target the last stage is built, and it fails naming the
	// step.
	svc.Build.Target = ""
	svc.Image = "haven-test/broken-" + randHex(4) + ":v1"
	_, err = d.PrepareImage(t.Context(), env, svc)
	if err == nil {
		trackImage(svc.Image)
		t.Fatalf("PrepareImage of a stage copying an ignored file: no error")
	}
	if !strings.Contains(err.Error(), "COPY secret.txt /") || !strings.Contains(err.Error(), "build web") {
		t.Errorf("build error %q should name the service and the failing step", err)
	}
}

func TestLabelsAndConfig(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := spec.Service{
		Name:            "web",
		Image:           testAppImage(t),
		Env:             map[string]string{"NAME": "labelled"},
		Labels:          map[string]string{"com.example.team": "core", spec.LabelApp: "spoofed"},
		Volumes:         []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}},
		Secrets:         []spec.SecretRef{{Source: "token", Target: "api-token"}},
		Resources:       spec.Resources{NanoCPUs: 500_000_000, MemoryBytes: 64 << 20},
		StopGracePeriod: spec.Duration(1500 * time.Millisecond),
		Routes:          []spec.Route{{PathPrefix: "/", Port: 8080}},
	}
	app := spec.App{Name: env.App, Services: []spec.Service{svc}, Volumes: []spec.Volume{{Name: "data"}},
		Secrets: map[string]spec.Secret{"token": {Name: "token", File: secret}}}
	if err := d.EnsureEnv(t.Context(), env, app); err != nil {
		t.Fatalf("EnsureEnv: %v", err)
	}
	inst := start(t, d, env, app, svc)
	if body := waitHTTP(t, inst.Addr(8080)); !strings.HasPrefix(body, "labelled ") {
		t.Errorf("GET / = %q", body)
	}

	c, err := d.cli.ContainerInspect(t.Context(), inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := inst.Labels.Map()
	want["com.example.team"] = "core"
	for k, v := range want {
		if got := c.Config.Labels[k]; got != v {
			t.Errorf("container label %s = %q, want %q", k, got, v)
		}
	}
	if name, want := c.Name, "/"+ContainerName(inst.Labels); name != want {
		t.Errorf("container name %q, want %q", name, want)
	}
	if c.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy %q, want no", c.HostConfig.RestartPolicy.Name)
	}
	if c.HostConfig.NanoCPUs != svc.Resources.NanoCPUs || c.HostConfig.Memory != svc.Resources.MemoryBytes {
		t.Errorf("resources: NanoCPUs %d Memory %d, want %d %d", c.HostConfig.NanoCPUs, c.HostConfig.Memory, svc.Resources.NanoCPUs, svc.Resources.MemoryBytes)
	}
	if c.Config.StopTimeout == nil || *c.Config.StopTimeout != 2 {
		t.Errorf("StopTimeout %v, want 2 (1.5s rounded up)", c.Config.StopTimeout)
	}
	ep := c.NetworkSettings.Networks[env.ResourceName("default")]
	if ep == nil || !containsStr(ep.Aliases, "web") {
		t.Errorf("endpoint on %s = %+v, want alias web", env.ResourceName("default"), ep)
	}

	// The secret is mounted read-only and holds the file's value.
	var secretMount bool
	for _, m := range c.Mounts {
		if m.Destination == "/run/secrets/api-token" {
			secretMount = true
			if m.RW || m.Source != secret {
				t.Errorf("secret mount %+v, want read-only from %s", m, secret)
			}
		}
	}
	if !secretMount {
		t.Errorf("no mount at /run/secrets/api-token: %+v", c.Mounts)
	}
	if got := readFile(t, d, inst.ID, "/run/secrets/api-token"); got != "s3cr3t" {
		t.Errorf("secret file holds %q", got)
	}

	envWant := map[string]string{spec.LabelManaged: "true", spec.LabelApp: env.App, spec.LabelEnv: env.Env}
	n, err := d.cli.NetworkInspect(t.Context(), env.ResourceName("default"), network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.cli.VolumeInspect(t.Context(), env.ResourceName("data"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range envWant {
		if n.Labels[k] != want {
			t.Errorf("network label %s = %q, want %q", k, n.Labels[k], want)
		}
		if v.Labels[k] != want {
			t.Errorf("volume label %s = %q, want %q", k, v.Labels[k], want)
		}
	}
	if n.Driver != "bridge" {
		t.Errorf("network driver %q, want bridge", n.Driver)
	}
}

func TestPortInUse(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	svc := spec.Service{Name: "public", Image: testAppImage(t), Ports: []spec.PortMapping{{Published: port, Target: 8080, Protocol: "tcp"}}}
	_, err = d.Start(t.Context(), driver.StartRequest{Labels: labelsFor(env, svc), Service: svc, App: spec.App{Name: env.App}})
	if !errors.Is(err, driver.ErrPortInUse) {
		t.Fatalf("Start with host port %d taken: %v, want ErrPortInUse", port, err)
	}
	if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(port)) || !strings.Contains(msg, "public") {
		t.Errorf("error %q should name port %d and service public", msg, port)
	}
	list, err := d.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range list {
		if inst.Labels.App == env.App {
			t.Errorf("a container was left behind: %+v", inst)
		}
	}

	// Once the port is free the same service starts and is reachable
	// through it.
	l.Close()
	inst := start(t, d, env, spec.App{Name: env.App}, svc)
	waitHTTP(t, "127.0.0.1:"+strconv.Itoa(port))
	if inst.Addr(8080) == "" {
		t.Errorf("no address for the published container port: %v", inst.Addrs)
	}
}

// TestPortInUseFromEngine covers the Engine's own reports, which Start
// relies on when its early check cannot see the port (a daemon with
// userland-proxy off, or a race).
func TestPortInUseFromEngine(t *testing.T) {
	svc := spec.Service{Name: "web", Ports: []spec.PortMapping{{Published: 9999, Target: 80}}}
	for _, tc := range []struct {
		msg  string
		port int
		ok   bool
	}{
		{"driver failed programming external connectivity on endpoint x (abc): Error starting userland proxy: listen tcp4 0.0.0.0:18081: bind: address already in use", 18081, true},
		{"driver failed programming external connectivity on endpoint x (abc): Bind for 0.0.0.0:8080 failed: port is already allocated", 8080, true},
		{"listen tcp6 [::]:7070: bind: address already in use", 7070, true},
		{"address already in use", 9999, true},
		{"no such image", 0, false},
	} {
		port, ok := portInUse(errors.New(tc.msg), svc)
		if port != tc.port || ok != tc.ok {
			t.Errorf("portInUse(%q) = %d, %v, want %d, %v", tc.msg, port, ok, tc.port, tc.ok)
		}
	}
}

func TestVolumes(t *testing.T) {
	d := newDriver(t)
	prod := newEnv(t, d, "prod")
	staging := spec.AppEnv{App: prod.App, Env: "staging"}
	svc := spec.Service{Name: "db", Image: testAppImage(t), Volumes: []spec.Mount{{Type: spec.MountVolume, Source: "data", Target: "/data"}}}
	app := spec.App{Name: prod.App, Services: []spec.Service{svc}, Volumes: []spec.Volume{{Name: "data"}}}
	for _, env := range []spec.AppEnv{prod, staging} {
		if err := d.EnsureEnv(t.Context(), env, app); err != nil {
			t.Fatalf("EnsureEnv(%s): %v", env, err)
		}
	}

	a := start(t, d, prod, app, svc)
	b := start(t, d, prod, app, svc)
	other := start(t, d, staging, app, svc)
	writeFile(t, d, a.ID, "/data/marker", "from a")
	if got := readFile(t, d, b.ID, "/data/marker"); got != "from a" {
		t.Errorf("second instance of prod reads %q, want the first one's file", got)
	}
	if _, err := tryReadFile(d, other.ID, "/data/marker"); err == nil {
		t.Errorf("staging sees prod's file")
	}

	for _, inst := range []driver.Instance{a, b} {
		if err := d.Stop(t.Context(), inst.ID, time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	if err := d.RemoveEnv(t.Context(), prod, false); err != nil {
		t.Fatalf("RemoveEnv(keep volumes): %v", err)
	}
	if err := d.EnsureEnv(t.Context(), prod, app); err != nil {
		t.Fatalf("EnsureEnv again: %v", err)
	}
	c := start(t, d, prod, app, svc)
	if got := readFile(t, d, c.ID, "/data/marker"); got != "from a" {
		t.Errorf("after Stop and RemoveEnv without volumes, a new instance reads %q, want the file to survive", got)
	}

	if err := d.Stop(t.Context(), c.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveEnv(t.Context(), prod, true); err != nil {
		t.Fatalf("RemoveEnv(remove volumes): %v", err)
	}
	if _, err := d.cli.VolumeInspect(t.Context(), prod.ResourceName("data")); err == nil {
		t.Errorf("volume %s survived RemoveEnv with removeVolumes", prod.ResourceName("data"))
	}
	if _, err := d.cli.VolumeInspect(t.Context(), staging.ResourceName("data")); err != nil {
		t.Errorf("staging's volume went with prod's: %v", err)
	}
}

func TestExecHealth(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check := &spec.HealthCheck{Kind: spec.CheckExec, Command: []string{"/check"},
		Interval: spec.Duration(200 * time.Millisecond), Timeout: spec.Duration(2 * time.Second), Retries: 1}
	good := spec.Service{Name: "good", Image: healthImage(t), Health: check, Expose: []int{8080}}
	bad := good
	bad.Name, bad.Env = "bad", map[string]string{"HEALTH_FAIL": "1"}
	app := spec.App{Name: env.App, Services: []spec.Service{bad, good}}
	g := start(t, d, env, app, good)
	b := start(t, d, env, app, bad)

	want := map[string]string{g.ID: "healthy", b.ID: "unhealthy"}
	got := map[string]string{}
	timeout := time.After(20 * time.Second)
	for len(got) < len(want) {
		select {
		case ev := <-events:
			if ev.Kind == driver.EventHealth && want[ev.ID] == ev.Health {
				got[ev.ID] = ev.Health
				if ev.Labels.App != env.App {
					t.Errorf("health event labels %+v", ev.Labels)
				}
			}
		case <-timeout:
			t.Fatalf("health events: got %v, want %v", got, want)
		}
	}
	list, err := d.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range list {
		if w, ok := want[inst.ID]; ok && inst.NativeHealth != w {
			t.Errorf("listed NativeHealth of %s = %q, want %q", inst.Labels.Service, inst.NativeHealth, w)
		}
	}
}

func TestIgnoreRules(t *testing.T) {
	r := ignoreRules{}
	for _, line := range []string{"*.log", "build", "docs/**/*.md", "!docs/keep/README.md", "/tmp/"} {
		p := ignorePattern{}
		if strings.HasPrefix(line, "!") {
			p.negate, line, r.hasNegation = true, line[1:], true
		}
		p.parts = strings.Split(strings.Trim(line, "/"), "/")
		r.patterns = append(r.patterns, p)
	}
	for path, want := range map[string]bool{
		"a.log":               true,
		"sub/a.log":           false, // *.log matches at the root only, as in Docker
		"build":               true,
		"build/out/x":         true,
		"docs/a/b/c.md":       true,
		"docs/c.md":           true,
		"docs/keep/README.md": false,
		"tmp/x":               true,
		"main.go":             false,
	} {
		if got := r.excludes(path); got != want {
			t.Errorf("excludes(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestReadLog(t *testing.T) {
	var b bytes.Buffer
	frame := func(stream byte, s string) {
		b.Write([]byte{stream, 0, 0, 0})
		b.Write([]byte{byte(len(s) >> 24), byte(len(s) >> 16), byte(len(s) >> 8), byte(len(s))})
		b.WriteString(s)
	}
	frame(1, "2024-05-01T10:00:00.000000001Z one\n2024-05-01T10:00:00.000000002Z tw")
	frame(2, "2024-05-01T10:00:00.000000003Z err\n")
	frame(1, "o\n")
	frame(1, "2024-05-01T10:00:00.000000004Z unterminated")
	var got []string
	if err := readLog(&b, func(l driver.LogLine) error {
		got = append(got, fmt.Sprintf("%s %d %s", l.Stream, l.Time.Nanosecond(), l.Text))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := "stdout 1 one|stderr 3 err|stdout 2 two|stdout 4 unterminated"
	if strings.Join(got, "|") != want {
		t.Errorf("readLog = %q, want %q", strings.Join(got, "|"), want)
	}
}

// writeFile puts a file into a running container through the Engine's
// archive API: the images have no shell to write one with.
func writeFile(t *testing.T, d *Driver, id, path, body string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: filepath.Base(path), Mode: 0o644, Size: int64(len(body))})
	tw.Write([]byte(body))
	tw.Close()
	if err := d.cli.CopyToContainer(t.Context(), id, filepath.Dir(path), &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("write %s in %s: %v", path, id, err)
	}
}

func readFile(t *testing.T, d *Driver, id, path string) string {
	t.Helper()
	s, err := tryReadFile(d, id, path)
	if err != nil {
		t.Fatalf("read %s in %s: %v", path, id, err)
	}
	return s
}

func tryReadFile(d *Driver, id, path string) (string, error) {
	rc, _, err := d.cli.CopyFromContainer(context.Background(), id, path)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(tr)
	return string(b), err
}

// waitHTTP GETs http://addr/ until it answers and returns the body.
func waitHTTP(t *testing.T, addr string) string {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET http://%s/: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestStartFailureRemovesContainer: a container the Engine creates but
// cannot start (its entrypoint does not exist) is not left behind.
func TestStartFailureRemovesContainer(t *testing.T) {
	d := newDriver(t)
	env := newEnv(t, d, "test")
	svc := spec.Service{Name: "broken", Image: testAppImage(t), Entrypoint: []string{"/no-such-binary"}}
	_, err := d.Start(t.Context(), driver.StartRequest{Labels: labelsFor(env, svc), Service: svc, App: spec.App{Name: env.App}})
	if err == nil || !strings.Contains(err.Error(), "start haven-"+env.App) {
		t.Fatalf("Start with a missing entrypoint: %v, want an error naming the container", err)
	}
	cs, err := d.cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", spec.LabelApp+"="+env.App))})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 {
		t.Errorf("%d containers left behind after a failed start", len(cs))
	}
}

// TestEventsReconnect: when the event stream breaks, Events reconnects and
// replays what happened meanwhile, without repeating what it already sent.
// The break is made by a socket proxy in front of the Engine that drops
// every connection.
func TestEventsReconnect(t *testing.T) {
	real := newDriver(t)
	env := newEnv(t, real, "test")
	proxy := newSocketProxy(t, strings.TrimPrefix(real.cli.DaemonHost(), "unix://"))
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+proxy.path), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	d := &Driver{cli: cli}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	svc := spec.Service{Name: "job", Image: testAppImage(t), Env: map[string]string{"EXIT_AFTER": "100ms", "EXIT_CODE": "3"}}
	first := start(t, real, env, spec.App{Name: env.App}, svc)
	waitExit(t, events, first.ID, 3)

	// The Engine stays unreachable through the proxy until the second
	// instance has come and gone, so its events can only arrive replayed.
	proxy.setDown(true)
	svc.Env = map[string]string{"EXIT_AFTER": "100ms", "EXIT_CODE": "4"}
	second := start(t, real, env, spec.App{Name: env.App}, svc)
	waitC, errC := real.cli.ContainerWait(t.Context(), second.ID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatal(err)
	}
	proxy.setDown(false)
	for _, ev := range waitExit(t, events, second.ID, 4) {
		if ev.ID == first.ID {
			t.Errorf("event of the first instance repeated after the reconnection: %+v", ev)
		}
	}
	if proxy.accepted() < 2 {
		t.Errorf("the stream was not reconnected (%d connections)", proxy.accepted())
	}
}

// waitExit reads events until id's exit arrives, checks its code, and
// returns the events read.
func waitExit(t *testing.T, events <-chan driver.Event, id string, code int) []driver.Event {
	t.Helper()
	var seen []driver.Event
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("events closed")
			}
			seen = append(seen, ev)
			if ev.ID == id && ev.Kind == driver.EventExited {
				if ev.ExitCode != code {
					t.Errorf("exit code %d, want %d", ev.ExitCode, code)
				}
				return seen
			}
		case <-timeout:
			t.Fatalf("no exit event for %s; saw %+v", id, seen)
		}
	}
}

// socketProxy forwards a unix socket to the Engine's and can drop every
// connection at once, as a daemon restart would.
type socketProxy struct {
	path  string
	mu    sync.Mutex
	conns []net.Conn
	count int
	down  bool // refuse connections
}

func newSocketProxy(t *testing.T, target string) *socketProxy {
	p := &socketProxy{path: filepath.Join(t.TempDir(), "proxy.sock")}
	l, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); p.breakAll() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns, p.count = append(p.conns, c, up), p.count+1
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// setDown drops every connection and refuses new ones, or accepts again.
func (p *socketProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.breakAll()
	}
}

func (p *socketProxy) breakAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *socketProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}
