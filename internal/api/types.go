package api

import (
	"github.com/haven-platform/haven/internal/control"
	"github.com/haven-platform/haven/internal/spec"
)

// DeployRequest is the body of PUT /v1/deployments/{app}/{env}.
type DeployRequest struct {
	App spec.App `json:"app"`
}

// DeployResponse answers a deploy.
type DeployResponse struct {
	Deployment spec.Deployment  `json:"deployment"`
	Changes    []control.Change `json:"changes"`
}

// ScaleRequest is the body of POST /v1/deployments/{app}/{env}/scale.
type ScaleRequest struct {
	Replicas map[string]int `json:"replicas"`
}

// Version describes the server.
type Version struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Driver    string `json:"driver"`
	Ingress   string `json:"ingress"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	// Kind is one of the Kind* constants; clients decide on it, people read Message.
	Kind    string `json:"kind"`
	Message string `json:"error"`
}

// Error kinds.
const (
	KindInvalid     = "invalid"     // bad input: fix the request (400)
	KindNotFound    = "not_found"   // no such deployment or service (404)
	KindConflict    = "conflict"    // a concurrent change or a taken port (409)
	KindUnavailable = "unavailable" // the runtime (Docker) cannot be reached (503)
	KindInternal    = "internal"    // a bug or an unexpected failure (500)
)
