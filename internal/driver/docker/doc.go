// Package docker is the Driver that runs Haven instances as Docker
// containers through the Engine API (Docker's official Go SDK, with API
// version negotiation so Engines from API 1.41 on work).
//
// Everything it creates carries dev.haven.* labels: containers the
// instance's labels, networks and volumes the app and environment. The Engine
// is therefore the only record of what runs, and List rebuilds the picture
// from it after Haven restarts. Each app+environment gets one bridge network
// (spec.AppEnv.ResourceName("default")) and its own copy of every named
// volume, so two environments of the same app share nothing.
//
// Docker never restarts a Haven container (restart policy "no"): the agent
// decides replacements, from the exits Events reports.
//
// BuildScratchImage, in testimage.go, builds a FROM-scratch image around a
// static binary; tests and demos use it because no registry is reachable.
//
// May import: spec, driver.
package docker
