package spec

import "time"

// ServiceCondition summarizes a service for people and scripts.
type ServiceCondition string

// Service conditions.
const (
	ServiceReady        ServiceCondition = "ready"         // desired replicas of the current revision are healthy
	ServiceConverging   ServiceCondition = "converging"    // instances are starting, being replaced or stopped
	ServiceWaiting      ServiceCondition = "waiting"       // held back by depends_on
	ServiceCrashLooping ServiceCondition = "crash-looping" // instances keep failing; restarts are backing off
	ServiceCompleted    ServiceCondition = "completed"     // a one-shot service (restart: no/on-failure) finished successfully
	ServiceFailed       ServiceCondition = "failed"        // a one-shot service (restart: no) exited with an error and stays stopped
)

// EnvStatus is the observed state of one app in one environment.
type EnvStatus struct {
	AppEnv AppEnv `json:"app_env"`
	// Generation is the desired state's generation the status was computed against.
	Generation int64           `json:"generation"`
	Services   []ServiceStatus `json:"services"`
}

// Ready reports whether every service is ready or completed.
func (e EnvStatus) Ready() bool {
	for _, s := range e.Services {
		if s.Condition != ServiceReady && s.Condition != ServiceCompleted {
			return false
		}
	}
	return true
}

// ServiceStatus is the observed state of one service.
type ServiceStatus struct {
	Name      string           `json:"name"`
	Revision  string           `json:"revision"`
	Desired   int              `json:"desired"`
	Healthy   int              `json:"healthy"` // healthy instances of the current revision
	Condition ServiceCondition `json:"condition"`
	// Message explains a condition other than ready ("waiting for postgres
	// to be healthy", "exited with code 1; restarting in 4s").
	Message string `json:"message,omitempty"`
	// Failures counts consecutive failed instances (exits, failed checks,
	// failed starts) since the service last ran healthy.
	Failures int `json:"failures,omitempty"`
	// LastLogs are the last lines of the most recent failed instance.
	LastLogs  []string         `json:"last_logs,omitempty"`
	Routes    []string         `json:"routes,omitempty"`
	Instances []InstanceStatus `json:"instances"`
	// Release is the service's release in progress, or its latest one.
	Release *Release `json:"release,omitempty"`
	// Weights is the traffic split by revision while a release moves it.
	Weights map[string]int `json:"weights,omitempty"`
}

// InstanceStatus is the observed state of one instance.
type InstanceStatus struct {
	ID        string        `json:"id"`
	DriverID  string        `json:"driver_id"`
	Service   string        `json:"service"`
	Revision  string        `json:"revision"`
	State     InstanceState `json:"state"`
	Addr      string        `json:"addr,omitempty"`
	StartedAt time.Time     `json:"started_at"`
	ExitCode  int           `json:"exit_code,omitempty"`
}
