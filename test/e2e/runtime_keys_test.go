package e2e

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestRuntimeKeysDocker: a compose file with runtime keys goes through
// `haven up` to a Docker container that has them (docker inspect), and the
// accepted-but-unused logging driver is said on stderr.
func TestRuntimeKeysDocker(t *testing.T) {
	buildTestImage(t)
	h := newHaven(t, "docker")
	removeContainers(t, "drt")
	h.startServer()
	run := strings.Join([]string{
		"image: " + testImage,
		"    container_name: drt-web",
		"    hostname: web-host",
		"    stop_signal: SIGINT",
		"    cap_drop: [MKNOD]",
		"    sysctls: {net.core.somaxconn: 1024}",
		"    ulimits: {nproc: 512}",
		"    tmpfs: [/scratch]",
		"    extra_hosts: [\"db.local:10.0.0.5\"]",
		"    logging: {driver: syslog}",
	}, "\n")
	file := testCompose(t, t.TempDir(), "drt", run, 1, nil)
	up := h.mustRun("up", "-f", file)
	// One kind of warning line: positioned, like the loader's others.
	if !regexp.MustCompile(`(?m)^warning: ` + regexp.QuoteMeta(file) + `:\d+:\d+: service \S+: logging driver "syslog" is not used`).MatchString(up.stderr) {
		t.Errorf("up does not warn, as warning: FILE:LINE:COL, about the unused logging driver:\n%s", up)
	}
	ids := containers(t, "drt")
	if len(ids) != 1 {
		t.Fatalf("%d containers, want 1", len(ids))
	}
	out, err := exec.Command("docker", "inspect", ids[0]).Output()
	if err != nil {
		t.Fatalf("docker inspect: %v", err)
	}
	var got []struct {
		Name   string
		Config struct {
			Hostname, StopSignal string
		}
		HostConfig struct {
			CapDrop []string
			Sysctls map[string]string
			Ulimits []struct {
				Name       string
				Soft, Hard int64
			}
			Tmpfs      map[string]string
			ExtraHosts []string
		}
		NetworkSettings struct {
			Networks map[string]struct{ Aliases []string }
		}
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 1 {
		t.Fatalf("docker inspect: %v %s", err, out)
	}
	c := got[0]
	if c.Config.Hostname != "web-host" || c.Config.StopSignal != "SIGINT" {
		t.Errorf("hostname %q, stop_signal %q", c.Config.Hostname, c.Config.StopSignal)
	}
	if len(c.HostConfig.CapDrop) != 1 || strings.TrimPrefix(c.HostConfig.CapDrop[0], "CAP_") != "MKNOD" {
		t.Errorf("cap_drop %q", c.HostConfig.CapDrop)
	}
	if c.HostConfig.Sysctls["net.core.somaxconn"] != "1024" {
		t.Errorf("sysctls %v", c.HostConfig.Sysctls)
	}
	if len(c.HostConfig.Ulimits) != 1 || c.HostConfig.Ulimits[0].Name != "nproc" || c.HostConfig.Ulimits[0].Soft != 512 || c.HostConfig.Ulimits[0].Hard != 512 {
		t.Errorf("ulimits %+v", c.HostConfig.Ulimits)
	}
	if _, ok := c.HostConfig.Tmpfs["/scratch"]; !ok {
		t.Errorf("tmpfs %v", c.HostConfig.Tmpfs)
	}
	if !slices.Equal(c.HostConfig.ExtraHosts, []string{"db.local:10.0.0.5"}) {
		t.Errorf("extra_hosts %q", c.HostConfig.ExtraHosts)
	}
	net := c.NetworkSettings.Networks["haven_drt_default_default"]
	if !slices.Contains(net.Aliases, "drt-web") || !strings.HasPrefix(c.Name, "/haven-drt-") {
		t.Errorf("container_name: name %q, aliases %q; want Haven's name and the alias drt-web", c.Name, net.Aliases)
	}
	h.mustRun("down")
}
