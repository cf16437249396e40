package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/proxy"
	"github.com/haven-platform/haven/internal/release"
	"github.com/haven-platform/haven/internal/spec"
	"github.com/haven-platform/haven/internal/store"
)

// serviceRelease is what one pass decided for a service: how many
// instances of which revision, with which specs, and how traffic splits.
type serviceRelease struct {
	targets map[string]int
	weights map[string]int
	specs   map[string]spec.Service // by revision hash, for starting instances
	rel     *spec.Release           // the release in progress or the latest one
}

// stepBase is the proxy's statistics when a release step began: the
// canary analysis judges what happened since.
type stepBase struct {
	key   string
	stats map[string]proxy.GroupStats
}

// releaseStep loads or starts the service's release, asks package release
// for the next decision, stores what changed and returns the targets. It
// is the only place that changes a release.
func (a *Agent) releaseStep(ctx context.Context, env spec.AppEnv, d *spec.Deployment, svc *spec.Service, obs []observed, now time.Time) (serviceRelease, error) {
	desired := svc.Revision()
	out := serviceRelease{specs: map[string]spec.Service{desired: *svc}}
	st := a.cfg.Store
	rel, err := st.LatestRelease(ctx, env, svc.Name)
	hasRelease := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	policy := svc.Release.WithDefaults()

	if !hasRelease || rel.Phase.Final() {
		active := ""
		if hasRelease {
			active = activeRevision(rel)
		} else {
			active = adoptedRevision(svc.Name, obs) // instances from before releases were recorded
		}
		// A release that failed back to its old revision is not tried again
		// until someone deploys (the agent also restores the desired spec).
		failedBack := hasRelease && rel.To == desired && returnedToFrom(rel) && !newerDeploy(rel, d)
		if active == desired || failedBack {
			out.targets = map[string]int{active: svc.Replicas}
			if active != desired {
				if r, ok := a.revision(ctx, env, svc.Name, active); ok {
					r.Spec.Replicas = svc.Replicas
					out.specs[active] = r.Spec
				}
			}
			if hasRelease {
				out.rel = &rel
			}
			return out, nil
		}
		to, err := st.RecordRevision(ctx, env, *svc, "deploy")
		if err != nil {
			return out, err
		}
		var from spec.Revision
		if active != "" {
			if r, ok := a.revision(ctx, env, svc.Name, active); ok {
				from = r
			}
		}
		rollback := from.Number > to.Number
		rel = release.Start(0, env, svc.Name, from, to, policy, rollback, now)
		if rel, err = st.PutRelease(ctx, rel); err != nil {
			return out, err
		}
		a.event(ctx, env, svc.Name, rel.ID, fmt.Sprintf("release %d of %s: revision %d → %d (%s)", rel.ID, svc.Name, from.Number, to.Number, rel.Strategy))
	} else if desired != rel.To {
		if desired == rel.From && rel.Phase != spec.PhaseRollingBack {
			// The user asked for the old revision while the release ran:
			// abort it by rolling back.
			rel.Phase, rel.StepStarted, rel.Reason = spec.PhaseRollingBack, now, "rolled back by a deploy of the previous revision"
			a.event(ctx, env, svc.Name, rel.ID, fmt.Sprintf("release %d of %s: rolling back on request", rel.ID, svc.Name))
		}
	}

	// The revisions the release moves between, with their specs.
	if rel.From != "" {
		if r, ok := a.revision(ctx, env, svc.Name, rel.From); ok {
			r.Spec.Replicas = svc.Replicas
			out.specs[rel.From] = r.Spec
		}
	}
	if rel.To != desired {
		if r, ok := a.revision(ctx, env, svc.Name, rel.To); ok {
			out.specs[rel.To] = r.Spec
		}
	}

	in := release.Observed{ByRevision: map[string]release.Counts{}}
	var migrations []observed
	for _, o := range obs {
		if o.Labels.Service != svc.Name {
			continue
		}
		if o.Labels.Role == spec.RoleMigrate {
			if o.Labels.Revision == rel.To {
				migrations = append(migrations, o)
			}
			continue
		}
		c := in.ByRevision[o.Labels.Revision]
		switch o.state {
		case spec.StateHealthy:
			c.Healthy++
		case spec.StateStarting:
			c.Starting++
		}
		in.ByRevision[o.Labels.Revision] = c
	}
	a.mu.Lock()
	fk := failureKey{rel.ID}
	in.NewFailures = rel.FailedStarts + a.relFailures[fk]
	in.FailureInfo = a.relFailureInfo[fk]
	a.mu.Unlock()
	if len(migrations) > 0 {
		m := migrations[0]
		in.Migration = release.Migration{Started: true, Done: !m.Running, ExitCode: m.ExitCode}
		if !m.Running {
			in.Migration.Logs = a.tail(ctx, m.ID)
		}
	}
	dec := release.Next(rel, svc.Replicas, policy, in, a.metrics(env, svc, rel, policy), now)
	next := dec.Release
	a.mu.Lock()
	next.FailedStarts = in.NewFailures
	delete(a.relFailures, fk)
	a.mu.Unlock()

	if dec.RunMigration && len(migrations) == 0 {
		if err := a.startMigration(ctx, env, d, out.specs[rel.To], rel.To, policy.Migrate); err != nil {
			a.log.Error("start migration", "env", env.String(), "service", svc.Name, "err", err)
		}
	}
	if next.Phase != spec.PhaseMigrating {
		for _, m := range migrations { // the task's record is no longer needed
			if m.Running {
				_ = a.cfg.Driver.Stop(ctx, m.ID, time.Second)
			} else {
				_ = a.cfg.Driver.Remove(ctx, m.ID)
			}
		}
	}
	if next != rel {
		if next.Phase.Final() && next.Finished.IsZero() {
			next.Finished = now
		}
		saved, err := st.PutRelease(ctx, next)
		if err != nil {
			return out, err
		}
		next = saved
		for _, e := range dec.Events {
			a.event(ctx, env, svc.Name, next.ID, e)
		}
		if returnedToFrom(next) && !returnedToFrom(rel) {
			a.restoreDesired(ctx, d, svc.Name, out.specs[next.From])
		}
	}
	out.targets, out.weights, out.rel = dec.Targets, dec.Weights, &next
	return out, nil
}

// newerDeploy reports whether the deployment changed after a release was
// rolled back: the same revision deployed again is released again.
func newerDeploy(rel spec.Release, d *spec.Deployment) bool {
	return d.UpdatedAt.After(rel.Finished)
}

// activeRevision is the revision serving after a finished release.
func activeRevision(r spec.Release) string {
	if returnedToFrom(r) {
		return r.From
	}
	return r.To
}

// returnedToFrom reports whether a finished release left its old revision
// serving: rolled back, or a rollback release that failed (package release
// then keeps From).
func returnedToFrom(r spec.Release) bool {
	return r.From != "" && (r.Phase == spec.PhaseRolledBack || (r.Phase == spec.PhaseFailed && r.Rollback))
}

// adoptedRevision is the revision most live instances of a service run,
// for a service found running without any release record.
func adoptedRevision(service string, obs []observed) string {
	counts := map[string]int{}
	best := ""
	for _, o := range obs {
		if o.Labels.Service != service || o.Labels.Role != "" || !o.state.Live() {
			continue
		}
		counts[o.Labels.Revision]++
		if counts[o.Labels.Revision] > counts[best] || (counts[o.Labels.Revision] == counts[best] && o.Labels.Revision < best) {
			best = o.Labels.Revision
		}
	}
	return best
}

func (a *Agent) revision(ctx context.Context, env spec.AppEnv, service, hash string) (spec.Revision, bool) {
	revs, err := a.cfg.Store.Revisions(ctx, env, service)
	if err != nil {
		return spec.Revision{}, false
	}
	for _, r := range revs {
		if r.Hash == hash {
			return r, true
		}
	}
	return spec.Revision{}, false
}

// restoreDesired makes the rolled-back-to revision the desired state again,
// so nothing releases the failed one anew until someone deploys.
func (a *Agent) restoreDesired(ctx context.Context, d *spec.Deployment, service string, old spec.Service) {
	if old.Name == "" {
		return
	}
	fresh, err := a.cfg.Store.GetDeployment(ctx, d.AppEnv)
	if err != nil {
		return
	}
	cur, ok := fresh.App.Service(service)
	if !ok {
		return
	}
	old.Replicas = cur.Replicas
	old.Release = cur.Release
	old.Routes = cur.Routes // not part of a revision; the old ones may be another app's by now
	*cur = old
	if _, err := a.cfg.Store.PutDeployment(ctx, fresh, fresh.Generation); err != nil {
		a.log.Warn("restore desired revision after a rollback", "env", d.AppEnv.String(), "service", service, "err", err)
	}
}

// startMigration runs the release's migrate command once, from the new
// revision's image, as a task that is never restarted.
func (a *Agent) startMigration(ctx context.Context, env spec.AppEnv, d *spec.Deployment, svc spec.Service, rev string, command []string) error {
	task := svc
	task.Entrypoint, task.Command = command[:1], command[1:]
	task.Health, task.Routes, task.Ports, task.Replicas, task.Restart = nil, nil, nil, 1, spec.RestartNever
	if err := a.ensureEnv(ctx, env, d); err != nil {
		return err
	}
	values, err := a.secretValues(ctx, env, d.App, task)
	if err != nil {
		return err
	}
	labels := spec.InstanceLabels{App: env.App, Env: env.Env, Service: svc.Name, Revision: rev, Instance: newInstanceID(), Role: spec.RoleMigrate}
	_, err = a.cfg.Driver.Start(ctx, driver.StartRequest{Labels: labels, Service: task, App: d.App, SecretValues: values})
	return err
}

// metrics returns what the proxy measured of the release's two revisions
// since the current step began.
func (a *Agent) metrics(env spec.AppEnv, svc *spec.Service, rel spec.Release, policy spec.ReleasePolicy) release.Metrics {
	if len(svc.Routes) == 0 || policy.Strategy != spec.StrategyCanary {
		return release.Metrics{}
	}
	backend := backendName(env, svc.Name, svc.Routes[0].Port)
	now := a.cfg.Ingress.Stats(backend)
	key := fmt.Sprintf("%d/%s/%d/%d", rel.ID, rel.Phase, rel.Step, rel.StepStarted.UnixNano())
	a.mu.Lock()
	base, ok := a.stepBases[rel.ID]
	if !ok || base.key != key {
		base = stepBase{key: key, stats: now}
		a.stepBases[rel.ID] = base
	}
	a.mu.Unlock()
	sample := func(rev string) release.Sample {
		g := now[rev].Sub(base.stats[rev])
		return release.Sample{Requests: int(g.Requests), Errors: int(g.Errors), P95: g.Quantile(0.95)}
	}
	return release.Metrics{Canary: sample(rel.To), Baseline: sample(rel.From)}
}

func backendName(env spec.AppEnv, service string, port int) string {
	return fmt.Sprintf("%s/%s:%d", env, service, port)
}

// event appends to the event stream; a failure is logged, never fatal.
func (a *Agent) event(ctx context.Context, env spec.AppEnv, service string, releaseID int64, msg string) {
	if _, err := a.cfg.Store.AppendEvent(ctx, spec.Event{AppEnv: env, Service: service, Release: releaseID, Message: msg}); err != nil {
		a.log.Warn("append event", "err", err)
	}
	a.log.Info("release event", "env", env.String(), "service", service, "release", releaseID, "msg", strings.TrimSpace(msg))
}

// failureKey counts failures of a release's new revision between passes.
type failureKey struct{ release int64 }
