package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// Observed is what the agent knows about one instance when it decides.
type Observed struct {
	// ID is the instance id (spec.InstanceLabels.Instance).
	ID       string
	Service  string
	Revision string
	State    spec.InstanceState
	ExitCode int
	// StartedAt orders instances: the newest is stopped first when scaling down.
	StartedAt time.Time
}

// Crashes is a service's record of consecutive failures, kept by the agent.
type Crashes struct {
	// Count is the number of consecutive failed instances (exits that need a
	// replacement, failed checks, failed starts).
	Count int
	// Last is when the latest failure was observed.
	Last time.Time
	// Revision is the revision of the latest failure: restart:
	// on-failure:N gives up on that revision only, so a deploy of a
	// change starts again.
	Revision string
}

// Input is everything Decide looks at for one app+environment.
type Input struct {
	// App is the desired app; nil when the app+environment was taken down,
	// in which case every instance is stopped.
	App *spec.App
	// Revisions maps each service to its desired revision
	// (spec.Service.Revision): the one dependencies are judged on.
	Revisions map[string]string
	// Targets maps a service to how many live instances of each revision
	// it should have, as its release decided (package release). A service
	// without targets wants Replicas of its desired revision.
	Targets map[string]map[string]int
	// Instances are the observed instances of the app+environment.
	Instances []Observed
	// Crashes by service name.
	Crashes map[string]Crashes
	Now     time.Time
}

// ActionKind is what to do.
type ActionKind string

// Action kinds.
const (
	Start  ActionKind = "start"  // start one instance of Service at Revision
	Stop   ActionKind = "stop"   // drain then stop instance ID
	Remove ActionKind = "remove" // delete the record of exited instance ID
)

// Action is one step of a plan.
type Action struct {
	Kind     ActionKind
	Service  string
	Revision string // for Start
	ID       string // for Stop and Remove
	Reason   string
}

// String renders the action on one line, as golden plans show it.
func (a Action) String() string {
	switch a.Kind {
	case Start:
		return fmt.Sprintf("start %s@%s (%s)", a.Service, a.Revision, a.Reason)
	default:
		return fmt.Sprintf("%s %s/%s (%s)", a.Kind, a.Service, a.ID, a.Reason)
	}
}

// Hold explains why a service is not being started or completed right now.
type Hold struct {
	Service   string
	Condition spec.ServiceCondition // waiting or crash-looping
	Message   string
}

// Plan is the outcome of Decide.
type Plan struct {
	Actions []Action
	Holds   []Hold
}

// String renders the whole plan, one action or hold per line.
func (p Plan) String() string {
	var b strings.Builder
	for _, a := range p.Actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	for _, h := range p.Holds {
		fmt.Fprintf(&b, "hold %s: %s: %s\n", h.Service, h.Condition, h.Message)
	}
	return b.String()
}

// CrashLoopThreshold is the number of consecutive failures from which a
// service is reported as crash-looping.
const CrashLoopThreshold = 3

// Backoff returns how long to wait before replacing a service's instance
// after count consecutive failures: the first replacement is immediate (a
// single crash should heal at once), then 1s, 2s, 4s … up to 30s.
func Backoff(count int) time.Duration {
	if count <= 1 {
		return 0
	}
	d := time.Second << (count - 2)
	if d > 30*time.Second || d <= 0 {
		return 30 * time.Second
	}
	return d
}

// Decide returns the actions that move the observed instances toward the
// desired app. It is deterministic: the same input gives the same plan.
//
// Per service, in dependency order:
//   - exited instances that need a replacement are removed, and instances
//     of a one-shot service (restart: no, or on-failure after exit 0) that
//     finished are kept as its completion record;
//   - unhealthy instances are stopped (and so replaced);
//   - each revision gets the number of live instances its target asks for
//     (the release decides them): missing ones are started unless a
//     dependency is not ready or the service is backing off after crashes,
//     surplus ones are stopped, those not yet serving first;
//   - instances of revisions without a target are stopped;
//   - instances of services no longer desired are stopped.
func Decide(in Input) Plan {
	var p Plan
	byService := map[string][]Observed{}
	for _, o := range in.Instances {
		byService[o.Service] = append(byService[o.Service], o)
	}
	if in.App == nil {
		for _, name := range sortedKeys(byService) {
			for _, o := range byService[name] {
				p.Actions = append(p.Actions, retire(o, "app is down")...)
			}
		}
		return p
	}
	for _, name := range in.App.StartOrder() {
		svc, _ := in.App.Service(name)
		p.decideService(in, svc, byService[name])
		delete(byService, name)
	}
	for _, name := range sortedKeys(byService) {
		for _, o := range byService[name] {
			p.Actions = append(p.Actions, retire(o, "service removed from the app")...)
		}
	}
	return p
}

// retire returns the action that gets rid of o whatever its state.
func retire(o Observed, reason string) []Action {
	switch o.State {
	case spec.StateExited, spec.StateStopped:
		return []Action{{Kind: Remove, Service: o.Service, ID: o.ID, Reason: reason}}
	case spec.StateDraining:
		return nil // already on its way out
	default:
		return []Action{{Kind: Stop, Service: o.Service, ID: o.ID, Reason: reason}}
	}
}

func (p *Plan) decideService(in Input, svc *spec.Service, instances []Observed) {
	rev := in.Revisions[svc.Name]
	targets := in.Targets[svc.Name]
	if targets == nil {
		targets = map[string]int{rev: svc.Replicas}
	}
	live := map[string][]Observed{}
	completed := map[string]int{}
	for _, o := range instances {
		switch {
		case o.State == spec.StateDraining:
			// being stopped already; counts for nothing
		case o.State == spec.StateExited || o.State == spec.StateStopped:
			if targets[o.Revision] > 0 && (finished(svc.Restart, o) || svc.Restart == spec.RestartNever) {
				// A one-shot's record: kept, and never replaced. restart: no
				// keeps even a failed run, as compose does.
				completed[o.Revision]++
				continue
			}
			reason := fmt.Sprintf("exited with code %d", o.ExitCode)
			if targets[o.Revision] == 0 {
				reason = "exited; revision no longer wanted"
			}
			p.Actions = append(p.Actions, Action{Kind: Remove, Service: svc.Name, ID: o.ID, Reason: reason})
		case o.State == spec.StateUnhealthy:
			p.Actions = append(p.Actions, Action{Kind: Stop, Service: svc.Name, ID: o.ID, Reason: "failed its health check"})
		default:
			live[o.Revision] = append(live[o.Revision], o)
		}
	}

	// Revisions without a target: every live instance goes. (A target of
	// 0 is a scale-down, below.)
	for _, r := range sortedKeys(live) {
		if _, ok := targets[r]; ok {
			continue
		}
		for _, o := range live[r] {
			p.Actions = append(p.Actions, Action{Kind: Stop, Service: svc.Name, ID: o.ID, Reason: "revision " + r + " no longer wanted"})
		}
	}

	var starts []Action
	for _, r := range sortedKeys(targets) {
		want := targets[r] - completed[r]
		if want < 0 {
			want = 0
		}
		have := live[r]
		if len(have) > want {
			// Surplus: stop the newest not-yet-serving instances first, then the newest healthy.
			sort.SliceStable(have, func(i, j int) bool { return servingFirst(have[i], have[j]) })
			for _, o := range have[want:] {
				p.Actions = append(p.Actions, Action{Kind: Stop, Service: svc.Name, ID: o.ID, Reason: fmt.Sprintf("scale %s down to %d", r, targets[r])})
			}
			continue
		}
		for i := len(have); i < want; i++ {
			starts = append(starts, Action{Kind: Start, Service: svc.Name, Revision: r, Reason: fmt.Sprintf("%d of %d running", i, want)})
		}
	}
	if len(starts) == 0 {
		return
	}
	if msg := unmetDependency(in, svc); msg != "" {
		p.Holds = append(p.Holds, Hold{Service: svc.Name, Condition: spec.ServiceWaiting, Message: msg})
		return
	}
	if c := in.Crashes[svc.Name]; svc.Restart == spec.RestartOnFailure && svc.RestartRetries > 0 && c.Count > svc.RestartRetries && c.Revision == in.Revisions[svc.Name] {
		// restart: on-failure:N gives up after N restarts, as Docker does.
		p.Holds = append(p.Holds, Hold{Service: svc.Name, Condition: spec.ServiceFailed,
			Message: fmt.Sprintf("%d consecutive failures: restart: on-failure:%d gives up after %d restarts; fix it and deploy the change", c.Count, svc.RestartRetries, svc.RestartRetries)})
		return
	}
	if c := in.Crashes[svc.Name]; c.Count > 0 {
		if wait := c.Last.Add(Backoff(c.Count)).Sub(in.Now); wait > 0 {
			cond := spec.ServiceConverging
			if c.Count >= CrashLoopThreshold {
				cond = spec.ServiceCrashLooping
			}
			p.Holds = append(p.Holds, Hold{Service: svc.Name, Condition: cond,
				Message: fmt.Sprintf("%d consecutive failures; next start in %s", c.Count, wait.Round(100*time.Millisecond))})
			return
		}
	}
	p.Actions = append(p.Actions, starts...)
}

// finished reports whether an exited instance completed the work of a
// one-shot service, so it is kept rather than replaced.
func finished(policy spec.RestartPolicy, o Observed) bool {
	return policy != spec.RestartAlways && o.ExitCode == 0
}

// servingFirst orders instances so that the ones worth keeping come first:
// healthy before starting, then oldest first.
func servingFirst(a, b Observed) bool {
	if (a.State == spec.StateHealthy) != (b.State == spec.StateHealthy) {
		return a.State == spec.StateHealthy
	}
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.Before(b.StartedAt)
	}
	return a.ID < b.ID
}

// unmetDependency returns why svc must wait for its dependencies, or "".
func unmetDependency(in Input, svc *spec.Service) string {
	for _, d := range svc.DependsOn {
		rev := in.Revisions[d.Service]
		var running, healthy, completed bool
		for _, o := range in.Instances {
			if o.Service != d.Service || o.Revision != rev {
				continue
			}
			switch o.State {
			case spec.StateHealthy:
				healthy, running = true, true
			case spec.StateStarting, spec.StateUnhealthy:
				running = true
			case spec.StateExited:
				if o.ExitCode == 0 {
					completed = true
				}
			}
		}
		switch d.Condition {
		case spec.ConditionHealthy:
			if !healthy {
				return fmt.Sprintf("waiting for %s to be healthy", d.Service)
			}
		case spec.ConditionCompleted:
			if !completed {
				return fmt.Sprintf("waiting for %s to complete successfully", d.Service)
			}
		default:
			if !running {
				return fmt.Sprintf("waiting for %s to start", d.Service)
			}
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
