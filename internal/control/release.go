package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// activeReleaseConflict refuses to change a service whose release is still
// running: one release per service at a time. Returning to the release's
// previous revision is allowed (it aborts the release).
func (c *Controller) activeReleaseConflict(ctx context.Context, target spec.AppEnv, previous *spec.Deployment, app spec.App) error {
	if previous == nil {
		return nil
	}
	var errs []error
	for _, s := range app.Services {
		old, ok := previous.App.Service(s.Name)
		if !ok || old.Revision() == s.Revision() {
			continue
		}
		rel, err := c.Store.LatestRelease(ctx, target, s.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if rel.Phase.Final() || s.Revision() == rel.From {
			continue
		}
		errs = append(errs, fmt.Errorf("service %s: release %d (revision %d → %d, %s) is in progress; wait for it (`haven release status`) or roll it back (`haven rollback %s`): %w",
			s.Name, rel.ID, rel.FromNumber, rel.ToNumber, rel.Phase, s.Name, store.ErrConflict))
	}
	return errors.Join(errs...)
}

// SetImage deploys a new image for one service, everything else unchanged
// (`haven deploy --image SERVICE=IMAGE`, the CI entry point).
func (c *Controller) SetImage(ctx context.Context, target spec.AppEnv, service, image string) (spec.Deployment, []Change, error) {
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		return spec.Deployment{}, nil, err
	}
	svc, ok := d.App.Service(service)
	if !ok {
		return spec.Deployment{}, nil, fmt.Errorf("%w: %s has no service %q", spec.ErrInvalid, target, service)
	}
	svc.Image, svc.Build, svc.ImageID = image, nil, ""
	return c.Deploy(ctx, target.Env, d.App)
}

// Rollback makes an earlier revision of a service the desired one: the
// revision before the serving one, or revision number to. The agent then
// releases it with the service's strategy.
func (c *Controller) Rollback(ctx context.Context, target spec.AppEnv, service string, to int) (spec.Revision, error) {
	d, err := c.Store.GetDeployment(ctx, target)
	if err != nil {
		return spec.Revision{}, err
	}
	svc, ok := d.App.Service(service)
	if !ok {
		return spec.Revision{}, fmt.Errorf("%w: %s has no service %q", spec.ErrInvalid, target, service)
	}
	revs, err := c.Store.Revisions(ctx, target, service)
	if err != nil {
		return spec.Revision{}, err
	}
	serving := svc.Revision()
	if rel, err := c.Store.LatestRelease(ctx, target, service); err == nil {
		if rel.Phase == spec.PhaseRolledBack {
			serving = rel.From
		} else if !rel.Phase.Final() {
			serving = rel.To // rolling back a release in progress returns to where it came from
			if to == 0 {
				to = rel.FromNumber
			}
		}
	}
	current := 0
	for _, r := range revs {
		if r.Hash == serving {
			current = r.Number
		}
	}
	var pick *spec.Revision
	for i := range revs {
		r := &revs[i]
		if (to > 0 && r.Number == to) || (to == 0 && r.Number < current && r.Hash != serving) {
			pick = r // revisions are oldest first: the last match is the newest earlier one
		}
	}
	if pick == nil {
		if to > 0 {
			return spec.Revision{}, fmt.Errorf("%w: service %s has no revision %d (see `haven history %s`)", spec.ErrInvalid, service, to, service)
		}
		return spec.Revision{}, fmt.Errorf("%w: service %s has no revision before %d to roll back to", spec.ErrInvalid, service, current)
	}
	if pick.Hash == serving {
		return spec.Revision{}, fmt.Errorf("%w: service %s already runs revision %d", spec.ErrInvalid, service, pick.Number)
	}
	restored := pick.Spec
	// Replicas, routes and the policy are not part of a revision: an old
	// revision's routes may since have been given to another app, and
	// restoring them would let two deployments claim one route.
	restored.Replicas, restored.Release, restored.Routes = svc.Replicas, svc.Release, svc.Routes
	*svc = restored
	if _, err := c.Store.PutDeployment(ctx, d, d.Generation); err != nil {
		return spec.Revision{}, err
	}
	c.Agent.Nudge()
	return *pick, nil
}

// Revisions lists a service's revisions, oldest first.
func (c *Controller) Revisions(ctx context.Context, target spec.AppEnv, service string) ([]spec.Revision, error) {
	return c.Store.Revisions(ctx, target, service)
}

// Releases lists the newest releases of an app+environment.
func (c *Controller) Releases(ctx context.Context, target spec.AppEnv, service string, limit int) ([]spec.Release, error) {
	return c.Store.Releases(ctx, target, service, limit)
}

// Events returns events after a sequence number.
func (c *Controller) Events(ctx context.Context, after uint64, limit int) ([]spec.Event, error) {
	return c.Store.Events(ctx, after, limit)
}
