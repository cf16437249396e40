package spec

import "time"

// CheckKind is how an instance's health is probed.
type CheckKind string

// Check kinds. Exec checks are compose's `healthcheck.test` and run inside
// the instance (by the driver); HTTP and TCP checks come from
// `x-haven.healthcheck` and are run by the agent from outside, the way the
// ingress will reach the instance.
const (
	CheckNone CheckKind = "none"
	CheckExec CheckKind = "exec"
	CheckHTTP CheckKind = "http"
	CheckTCP  CheckKind = "tcp"
)

// HealthCheck describes how to decide that an instance is ready and stays so.
type HealthCheck struct {
	Kind CheckKind `json:"kind"`
	// Command is the exec check's command (compose's CMD / CMD-SHELL, with
	// CMD-SHELL turned into ["/bin/sh", "-c", cmd]).
	Command []string `json:"command,omitempty"`
	// Path is the HTTP check's request path; a 2xx or 3xx answer is healthy.
	Path string `json:"path,omitempty"`
	// Port is the instance port HTTP and TCP checks connect to.
	Port int `json:"port,omitempty"`
	// Interval between checks once the instance has been healthy.
	Interval Duration `json:"interval"`
	// Timeout of one check.
	Timeout Duration `json:"timeout"`
	// Retries is how many consecutive failures make an instance unhealthy.
	Retries int `json:"retries"`
	// StartPeriod is the grace time after start during which failures do
	// not count (but a success does).
	StartPeriod Duration `json:"start_period,omitempty"`
	// StartInterval is the time between checks during StartPeriod (compose's
	// healthcheck.start_interval); zero means Interval. The docker driver
	// gives it to the Engine; the other checkers probe at Interval.
	StartInterval Duration `json:"start_interval,omitempty"`
}

// Health check defaults. They are shorter than Docker's (30s) because a
// health check gates traffic and replacement: a slow check is slow healing.
const (
	DefaultCheckInterval = 2 * time.Second
	DefaultCheckTimeout  = 2 * time.Second
	DefaultCheckRetries  = 3
)

// WithDefaults returns the check with zero fields set to their defaults.
func (h HealthCheck) WithDefaults() HealthCheck {
	if h.Interval <= 0 {
		h.Interval = Duration(DefaultCheckInterval)
	}
	if h.Timeout <= 0 {
		h.Timeout = Duration(DefaultCheckTimeout)
	}
	if h.Retries <= 0 {
		h.Retries = DefaultCheckRetries
	}
	if h.Kind == CheckHTTP && h.Path == "" {
		h.Path = "/"
	}
	return h
}
