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
// CopyVolumes (copy.go) gives one environment a crash-consistent copy of
// another's named volumes, for `haven env create --with-data`: the
// source's containers are paused while the Engine's archive API streams
// each volume into the new one through helper containers that are never
// started, so it needs neither a shell in any image nor a registry.
//
// Environments are isolated by the Engine: containers on two different
// user-defined bridge networks cannot connect to each other (its
// DOCKER-ISOLATION-STAGE iptables chains drop the traffic, with the
// daemon's default iptables=true), and a network's embedded DNS answers
// only for its own containers. TestEnvIsolation checks both from inside a
// container.
//
// Exec (exec.go) runs `haven exec`'s commands through the Engine's exec
// API on a hijacked connection; the Engine offers no way to kill an exec'd
// process, so a caller going away closes its stdin (and hangs up its
// terminal) and a command that ignores both runs to its end.
// ImageSize (imagesize.go) is the image's size for `haven images`.
//
// A service's runtime options (spec.ContainerOptions: hostname, cap_add,
// sysctls, ulimits, devices, …) become the container's Config and
// HostConfig in options.go, one `docker run` flag each. container_name is
// an extra network alias, never the container's name, so two environments
// and a release's overlapping instances cannot collide. A device missing on
// this node or a platform other than the node's fails the start with
// ErrNodeMismatch; an option the Engine is too old for
// (healthcheck.start_interval before API 1.44) is dropped with a warning in
// the log, once per service. A tty: true container's log is one raw stream
// rather than multiplexed frames; Logs reads it as such (all "stdout").
//
// The app's network carries the options of spec.App.Network (driver
// options, subnets, internal, IPv6), set when it is created; an existing
// network is kept as it is. A service with NetworkMode host or none gets
// no endpoint on it: on the host's network its addresses are 127.0.0.1,
// where the ingress and health checks reach it. An anonymous volume (a
// volume mount without a source) is the Engine's, one per container, and
// is removed with the container (RemoveVolumes), as `docker compose down
// -v` does; named and external volumes never are. External volumes are
// mounted by their own name and never created. Bind mounts with an SELinux
// label (:z, :Z) go through HostConfig.Binds, the only syntax that has it.
//
// Docker never restarts a Haven container (restart policy "no"): the agent
// decides replacements, from the exits Events reports.
//
// BuildScratchImage, in testimage.go, builds a FROM-scratch image around a
// static binary; tests and demos use it because no registry is reachable.
//
// May import: spec, driver, hostfs, github.com/docker/docker,
// github.com/docker/go-connections, github.com/containerd/errdefs.
package docker
