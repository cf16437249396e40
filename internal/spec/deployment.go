package spec

import "time"

// Deployment is the desired state of one app in one environment, as the
// store keeps it. Every change (deploy, scale) bumps Generation, so status
// can say which desired state it has converged to.
type Deployment struct {
	AppEnv     AppEnv    `json:"app_env"`
	App        App       `json:"app"`
	Generation int64     `json:"generation"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Stopped holds, per service `haven stop` scaled to 0, the replica
	// count it had, for `haven start` to restore. A deploy, which sets
	// every count from the file, clears it.
	Stopped map[string]int `json:"stopped,omitempty"`
}
