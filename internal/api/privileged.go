package api

import (
	"fmt"
	"strings"

	"github.com/haven-platform/haven/internal/auth"
	"github.com/haven-platform/haven/internal/spec"
)

// privilegedRefusal says why id may not deploy app to env, or "" when it
// may: a service that can take its node over (spec.ContainerOptions.
// PrivilegedKeys) needs auth.PermAppDeployPrivileged on top of the deploy
// route's app.deploy. Every such service and key is named, so the fix is
// known at once.
func privilegedRefusal(id auth.Identity, env string, app spec.App) string {
	if id.Can(auth.PermAppDeployPrivileged, env) {
		return ""
	}
	var asks []string
	for _, s := range app.Services {
		if keys := s.Container.PrivilegedKeys(); len(keys) > 0 {
			asks = append(asks, fmt.Sprintf("service %s (%s)", s.Name, strings.Join(keys, ", ")))
		}
	}
	if len(asks) == 0 {
		return ""
	}
	return fmt.Sprintf("permission %s needed on environment %s to deploy %s: these options give the container control of the node; have a devops or admin user deploy it, or remove them",
		auth.PermAppDeployPrivileged, env, strings.Join(asks, "; "))
}
