package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/spec"
)

// TestPrivilegedDeploy: over HTTP, a developer's deploy of a service that
// could take the node over is refused with the services and keys named and
// the permission it needs; devops's deploy of the same app is accepted, and
// so is the developer's once the option is gone.
func TestPrivilegedDeploy(t *testing.T) {
	s := newTestServer(t)
	dev := s.token(t, auth.RoleDeveloper)
	ops := s.token(t, auth.RoleDevOps)
	body := func(name string, opts spec.ContainerOptions) string {
		app := spec.App{Name: name, Services: []spec.Service{
			{Name: "web", Command: []string{"/bin/sleep", "60"}, Replicas: 1, Restart: spec.RestartAlways},
			{Name: "agent", Command: []string{"/bin/sleep", "60"}, Replicas: 1, Restart: spec.RestartAlways, Container: opts},
		}}
		b, err := json.Marshal(DeployRequest{App: app})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	privileged := body("shop", spec.ContainerOptions{Privileged: true, CapAdd: []string{"SYS_ADMIN", "CHOWN"}, PID: "host"})

	code, got := s.call(t, "PUT", "/v1/deployments/shop/prod", dev, privileged)
	want := "permission app.deploy-privileged needed on environment prod to deploy service agent (privileged: true, cap_add: SYS_ADMIN, pid: host)"
	if code != http.StatusForbidden || !strings.Contains(got, want) {
		t.Fatalf("developer's privileged deploy: %d %s\nwant 403 with %q", code, got, want)
	}
	code, got = s.call(t, "PUT", "/v1/deployments/shop/prod", ops, privileged)
	if code != http.StatusOK {
		t.Fatalf("devops's privileged deploy: %d %s, want 200", code, got)
	}
	// A new image runs with the service's options: as strong as deploying
	// them.
	code, got = s.call(t, "POST", "/v1/deployments/shop/prod/services/agent/image", dev, `{"image":"evil:1"}`)
	want = "permission app.deploy-privileged needed on environment prod to change the image of service agent (privileged: true, cap_add: SYS_ADMIN, pid: host)"
	if code != http.StatusForbidden || !strings.Contains(got, want) {
		t.Fatalf("developer's new image for a privileged service: %d %s\nwant 403 with %q", code, got, want)
	}
	code, got = s.call(t, "PUT", "/v1/deployments/tools/prod", dev, body("tools", spec.ContainerOptions{CapAdd: []string{"CHOWN"}}))
	if code != http.StatusOK {
		t.Fatalf("developer's deploy with a harmless cap_add: %d %s, want 200", code, got)
	}
}
