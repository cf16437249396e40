package spec

import "time"

// Strategy is how a release replaces a service's instances.
type Strategy string

// Release strategies.
const (
	// StrategyRolling replaces instances a few at a time: up to MaxSurge
	// extra instances, never more than MaxUnavailable below the desired
	// healthy count. Each new instance is healthy before an old one drains.
	StrategyRolling Strategy = "rolling"
	// StrategyBlueGreen starts the whole new set, switches traffic to it at
	// once when every instance is healthy, and keeps the old set warm for
	// BakeTime so a rollback is instant.
	StrategyBlueGreen Strategy = "blue-green"
	// StrategyCanary sends a growing share of traffic (Steps) to the new
	// revision, comparing it with the old one (Analysis) at each step.
	StrategyCanary Strategy = "canary"
)

// ReleasePolicy is a service's `x-haven.release`.
type ReleasePolicy struct {
	Strategy Strategy `json:"strategy"`
	// MaxSurge (rolling) is how many instances may run above Replicas.
	MaxSurge int `json:"max_surge"`
	// MaxUnavailable (rolling) is how many fewer than Replicas may be
	// healthy at any time (ECS's minimum healthy percent, as a count).
	MaxUnavailable int `json:"max_unavailable"`
	// BakeTime (blue-green) is how long the old set stays warm after the
	// switch.
	BakeTime Duration `json:"bake_time,omitempty"`
	// Steps (canary) are the traffic weights in percent, each held for its
	// pause while the analysis runs. A last step of 100 is implied.
	Steps []CanaryStep `json:"steps,omitempty"`
	// Analysis (canary) decides whether a step passes.
	Analysis Analysis `json:"analysis,omitzero"`
	// Migrate is a one-off command run from the new revision once per
	// release, before any traffic moves; its failure aborts the release.
	Migrate []string `json:"migrate,omitempty"`
	// DrainTimeout bounds how long a stopping instance finishes in-flight
	// requests after it left the ingress.
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
}

// CanaryStep is one traffic step of a canary release.
type CanaryStep struct {
	// Weight is the percent of requests sent to the new revision (1-100).
	Weight int      `json:"weight"`
	Pause  Duration `json:"pause"`
}

// Analysis compares a canary with its baseline on the proxy's own
// measurements during a step.
type Analysis struct {
	// MaxErrorRate is the highest share of 5xx answers and upstream errors
	// the canary may have (0.05 = 5%).
	MaxErrorRate float64 `json:"max_error_rate"`
	// MaxP95Ratio is how many times the baseline's p95 latency the canary's
	// may reach (with a floor of MinP95 so fast services are not judged on
	// noise).
	MaxP95Ratio float64 `json:"max_p95_ratio"`
	// MinP95 is the p95 under which latency is never a reason to fail.
	MinP95 Duration `json:"min_p95"`
	// MinRequests is how many canary requests a step needs before it can
	// be judged; a step without them waits (and fails after 3 pauses).
	MinRequests int `json:"min_requests"`
}

// Release policy defaults: the safe ones.
const (
	DefaultMaxSurge     = 1
	DefaultBakeTime     = 30 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultMaxErrorRate = 0.05
	DefaultMaxP95Ratio  = 2.0
	DefaultMinP95       = 50 * time.Millisecond
	DefaultMinRequests  = 20
)

// DefaultCanarySteps are used when a canary names no steps.
var DefaultCanarySteps = []CanaryStep{{Weight: 10, Pause: Duration(30 * time.Second)}, {Weight: 50, Pause: Duration(30 * time.Second)}}

// WithDefaults returns the policy with zero fields set to their defaults.
// A nil policy is a rolling release with the defaults.
func (p *ReleasePolicy) WithDefaults() ReleasePolicy {
	var out ReleasePolicy
	if p != nil {
		out = *p
	}
	if out.Strategy == "" {
		out.Strategy = StrategyRolling
	}
	if out.Strategy == StrategyRolling && out.MaxSurge == 0 && out.MaxUnavailable == 0 {
		out.MaxSurge = DefaultMaxSurge
	}
	if out.BakeTime <= 0 {
		out.BakeTime = Duration(DefaultBakeTime)
	}
	if out.DrainTimeout <= 0 {
		out.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	if out.Strategy == StrategyCanary && len(out.Steps) == 0 {
		out.Steps = append([]CanaryStep(nil), DefaultCanarySteps...)
	}
	a := &out.Analysis
	if a.MaxErrorRate <= 0 {
		a.MaxErrorRate = DefaultMaxErrorRate
	}
	if a.MaxP95Ratio <= 0 {
		a.MaxP95Ratio = DefaultMaxP95Ratio
	}
	if a.MinP95 <= 0 {
		a.MinP95 = Duration(DefaultMinP95)
	}
	if a.MinRequests <= 0 {
		a.MinRequests = DefaultMinRequests
	}
	return out
}

// ReleasePhase is where a release is.
type ReleasePhase string

// Release phases. Succeeded, Failed and RolledBack are final.
const (
	PhaseMigrating   ReleasePhase = "migrating"    // the migration task runs; old revision serves
	PhaseProgressing ReleasePhase = "progressing"  // instances and traffic move to the new revision
	PhaseBaking      ReleasePhase = "baking"       // blue-green: traffic switched, old set kept warm
	PhaseRollingBack ReleasePhase = "rolling-back" // traffic and instances return to the old revision
	PhaseSucceeded   ReleasePhase = "succeeded"
	PhaseRolledBack  ReleasePhase = "rolled-back" // failed, and the old revision serves again
	PhaseFailed      ReleasePhase = "failed"      // failed with nothing to return to (a first release)
)

// Final reports whether the phase ends a release.
func (p ReleasePhase) Final() bool {
	return p == PhaseSucceeded || p == PhaseRolledBack || p == PhaseFailed
}

// Revision is an immutable record of one version of a service.
type Revision struct {
	// Number counts the service's revisions from 1.
	Number int `json:"number"`
	// Hash is Service.Revision() of Spec.
	Hash    string    `json:"hash"`
	Spec    Service   `json:"spec"`
	Created time.Time `json:"created"`
	// Cause says where it came from ("deploy", "deploy --image", "rollback to 3").
	Cause string `json:"cause,omitempty"`
}

// Release moves one service of an app+environment from one revision to
// another. The agent advances it one pure decision at a time (package
// release) and stores it after every change, so a restarted server resumes
// where it was.
type Release struct {
	ID       int64    `json:"id"`
	AppEnv   AppEnv   `json:"app_env"`
	Service  string   `json:"service"`
	Strategy Strategy `json:"strategy"`
	// From is the revision serving when the release began ("" for a
	// service's first release); To is the one being released.
	From       string `json:"from,omitempty"`
	FromNumber int    `json:"from_number,omitempty"`
	To         string `json:"to"`
	ToNumber   int    `json:"to_number"`
	// Rollback marks a release back to an earlier revision (manual, or
	// started by a failed release).
	Rollback bool         `json:"rollback,omitempty"`
	Phase    ReleasePhase `json:"phase"`
	// Step is the canary step in progress (0-based).
	Step int `json:"step,omitempty"`
	// StepStarted is when the current phase or step began.
	StepStarted time.Time `json:"step_started"`
	// FailedStarts counts new-revision instances that exited or failed
	// their checks during this release (the circuit breaker's input).
	FailedStarts int       `json:"failed_starts,omitempty"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished,omitzero"`
	// Reason explains a failure or rollback: exit codes, check output,
	// analysis figures, last log lines.
	Reason string `json:"reason,omitempty"`
}

// Event is one line of the event stream (`haven events`): a release step,
// a rollback, a failure.
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	AppEnv  AppEnv    `json:"app_env"`
	Service string    `json:"service,omitempty"`
	Release int64     `json:"release,omitempty"`
	Message string    `json:"message"`
}
