package agent

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/haven-platform/haven/internal/plan"
	"github.com/haven-platform/haven/internal/spec"
)

// envStatus summarizes one app+environment after a pass.
func (a *Agent) envStatus(env spec.AppEnv, d *spec.Deployment, obs []observed, p plan.Plan, rels map[string]serviceRelease) spec.EnvStatus {
	holds := map[string]plan.Hold{}
	for _, h := range p.Holds {
		holds[h.Service] = h
	}
	pending := map[string]bool{} // services the plan is still changing
	for _, act := range p.Actions {
		pending[act.Service] = true
	}
	st := spec.EnvStatus{AppEnv: env, Generation: d.Generation}
	for _, svc := range d.App.Services {
		rev := svc.Revision()
		ss := spec.ServiceStatus{Name: svc.Name, Revision: rev, Desired: svc.Replicas}
		for _, r := range svc.Routes {
			ss.Routes = append(ss.Routes, r.String())
		}
		others, completed, failedRuns := 0, 0, 0
		sr := rels[svc.Name]
		ss.Release, ss.Weights = sr.rel, sr.weights
		for _, o := range obs {
			if o.Labels.Service != svc.Name || o.Labels.Role != "" {
				continue
			}
			is := spec.InstanceStatus{ID: o.Labels.Instance, DriverID: o.ID, Service: svc.Name, Revision: o.Labels.Revision,
				State: o.state, StartedAt: o.StartedAt, ExitCode: o.ExitCode}
			if len(svc.Routes) > 0 {
				is.Addr = o.Addr(svc.Routes[0].Port)
			}
			ss.Instances = append(ss.Instances, is)
			switch {
			case o.Labels.Revision != rev:
				others++
			case o.state == spec.StateHealthy:
				ss.Healthy++
			case o.state == spec.StateExited && o.ExitCode == 0 && svc.Restart != spec.RestartAlways:
				completed++
			case o.state == spec.StateExited && svc.Restart == spec.RestartNever:
				failedRuns++
			default:
				others++
			}
		}
		sort.Slice(ss.Instances, func(i, j int) bool { return ss.Instances[i].StartedAt.Before(ss.Instances[j].StartedAt) })
		a.mu.Lock()
		if c := a.crashes[serviceKey{env, svc.Name}]; c != nil {
			ss.Failures = c.Count
			ss.Message = c.reason
			ss.LastLogs = c.logs
		}
		a.mu.Unlock()
		h, held := holds[svc.Name]
		switch {
		case failedRuns > 0:
			ss.Condition = spec.ServiceFailed
			ss.Message = "exited with an error; restart: no keeps it stopped"
		case svc.Replicas > 0 && completed >= svc.Replicas:
			ss.Condition = spec.ServiceCompleted
		case held:
			ss.Condition, ss.Message = h.Condition, joinMessages(h.Message, ss.Message)
		case ss.Failures >= plan.CrashLoopThreshold && ss.Healthy < svc.Replicas:
			ss.Condition = spec.ServiceCrashLooping
		case sr.rel != nil && !sr.rel.Phase.Final():
			ss.Condition = spec.ServiceConverging
			ss.Message = fmt.Sprintf("release %d: %s", sr.rel.ID, sr.rel.Phase)
		case ss.Healthy == svc.Replicas && others == 0 && !pending[svc.Name]:
			ss.Condition = spec.ServiceReady
		default:
			ss.Condition = spec.ServiceConverging
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

func joinMessages(a, b string) string {
	switch {
	case b == "" || a == b:
		return a
	case a == "":
		return b
	}
	return a + "; last failure: " + b
}

// Status returns the status of every deployed app+environment as of the
// last pass, ordered by app then environment.
func (a *Agent) Status() []spec.EnvStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]spec.EnvStatus, 0, len(a.status))
	for _, s := range a.status {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppEnv.String() < out[j].AppEnv.String() })
	return out
}

// WaitPass blocks until a full pass has completed after the call (so its
// status reflects anything written before the call), or ctx ends.
func (a *Agent) WaitPass(ctx context.Context) error {
	a.mu.Lock()
	target := a.passes + 2 // the pass in progress may have read the store before the call
	a.mu.Unlock()
	a.Nudge()
	for {
		a.mu.Lock()
		done := a.passes >= target
		a.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
			a.Nudge()
		}
	}
}
