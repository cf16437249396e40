package api

import (
	"context"
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
	return refusal(id, env, app.Services, "deploy")
}

// imageRefusal is privilegedRefusal for a new image of one deployed
// service: the image is what runs with the service's options, so changing
// it is as strong as deploying them.
func (h *Handler) imageRefusal(ctx context.Context, id auth.Identity, target spec.AppEnv, service string) string {
	d, err := h.ctl.Store.GetDeployment(ctx, target)
	if err != nil {
		return "" // SetImage answers the missing deployment itself
	}
	svc, ok := d.App.Service(service)
	if !ok {
		return ""
	}
	return refusal(id, target.Env, []spec.Service{*svc}, "change the image of")
}

func refusal(id auth.Identity, env string, services []spec.Service, verb string) string {
	if id.Can(auth.PermAppDeployPrivileged, env) {
		return ""
	}
	var asks []string
	for _, s := range services {
		if keys := s.Container.PrivilegedKeys(); len(keys) > 0 {
			asks = append(asks, fmt.Sprintf("service %s (%s)", s.Name, strings.Join(keys, ", ")))
		}
	}
	if len(asks) == 0 {
		return ""
	}
	return fmt.Sprintf("permission %s needed on environment %s to %s %s: these options give the container control of the node; have a devops or admin user deploy it, or remove them",
		auth.PermAppDeployPrivileged, env, verb, strings.Join(asks, "; "))
}
