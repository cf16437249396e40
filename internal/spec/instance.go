package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Label keys put on everything Haven creates (containers, networks, volumes,
// process records). They make the engine the source of truth for what runs:
// after a crash, Haven rebuilds its observed state from these labels and
// adopts what it finds instead of starting duplicates.
const (
	LabelManaged  = "dev.haven.managed" // always "true"
	LabelApp      = "dev.haven.app"
	LabelEnv      = "dev.haven.env"
	LabelService  = "dev.haven.service"
	LabelRevision = "dev.haven.revision"
	LabelInstance = "dev.haven.instance"
	// LabelOwner names the Haven server (by its id, kept in its data
	// directory) that created the instance. Several servers may share one
	// Docker engine; each manages only what it owns.
	LabelOwner = "dev.haven.owner"
	// LabelRole marks instances that are not replicas of their service:
	// "migrate" for a release's one-off migration task.
	LabelRole = "dev.haven.role"
)

// RoleMigrate is the role of a release's migration task.
const RoleMigrate = "migrate"

// InstanceLabels identify one instance of a service revision.
type InstanceLabels struct {
	App      string `json:"app"`
	Env      string `json:"env"`
	Service  string `json:"service"`
	Revision string `json:"revision"`
	// Instance is the instance's unique id, chosen by Haven before the
	// instance is created.
	Instance string `json:"instance"`
	// Owner is the id of the server that created the instance.
	Owner string `json:"owner,omitempty"`
	// Role is "" for a service's replicas, RoleMigrate for a migration task.
	Role string `json:"role,omitempty"`
}

// Map renders the labels as the key/value set put on containers.
func (l InstanceLabels) Map() map[string]string {
	return map[string]string{
		LabelManaged:  "true",
		LabelApp:      l.App,
		LabelEnv:      l.Env,
		LabelService:  l.Service,
		LabelRevision: l.Revision,
		LabelInstance: l.Instance,
		LabelOwner:    l.Owner,
		LabelRole:     l.Role,
	}
}

// ParseInstanceLabels reads labels written by Map. ok is false when the set
// does not describe a Haven instance.
func ParseInstanceLabels(m map[string]string) (l InstanceLabels, ok bool) {
	if m[LabelManaged] != "true" {
		return l, false
	}
	l = InstanceLabels{App: m[LabelApp], Env: m[LabelEnv], Service: m[LabelService], Revision: m[LabelRevision], Instance: m[LabelInstance], Owner: m[LabelOwner], Role: m[LabelRole]}
	return l, l.App != "" && l.Env != "" && l.Service != "" && l.Instance != ""
}

// AppEnv names an app deployed in an environment: the unit of isolation.
type AppEnv struct {
	App string `json:"app"`
	Env string `json:"env"`
}

// String renders "app/env".
func (a AppEnv) String() string { return a.App + "/" + a.Env }

// ResourceName is the name of an app+environment scoped engine object
// (network, volume): "haven_<app>_<env>_<name>".
func (a AppEnv) ResourceName(name string) string {
	return fmt.Sprintf("haven_%s_%s_%s", a.App, a.Env, name)
}

// Revision returns the content hash of what an instance of s runs: two
// services with the same revision are interchangeable. Replicas are left out,
// so scaling never replaces instances; routes are left out because they
// change the ingress, not the instances.
func (s Service) Revision() string {
	c := s
	c.Replicas = 0
	c.Routes = nil
	c.Release = nil // how to release a revision is not part of it
	c.Alerts = nil  // nor what to watch on it
	if c.ImageID != "" {
		c.Build = nil // the built image's identity already covers its inputs
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("spec: marshal service %s: %v", s.Name, err)) // plain data; cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// InstanceState is where an instance is in its life. The agent moves it:
//
//	starting → healthy ⇄ unhealthy → draining → stopped
//
// with exited for an instance whose process ended on its own.
type InstanceState string

// Instance states.
const (
	StateStarting  InstanceState = "starting"  // running, not yet proven healthy
	StateHealthy   InstanceState = "healthy"   // passing checks; receives traffic
	StateUnhealthy InstanceState = "unhealthy" // failed its checks; out of the ingress, to be replaced
	StateDraining  InstanceState = "draining"  // out of the ingress, finishing in-flight work before stop
	StateStopped   InstanceState = "stopped"   // stopped by Haven
	StateExited    InstanceState = "exited"    // ended by itself (crash, kill, or completion)
)

// Live reports whether the instance is running or on its way to serve.
func (s InstanceState) Live() bool {
	return s == StateStarting || s == StateHealthy || s == StateUnhealthy
}
