package spec

// ContainerOptions are the compose keys that shape how one instance's
// process runs (its name, terminal, capabilities, kernel settings,
// resources beyond the limits): what `docker run` flags would set. They
// are part of the service's spec, so changing one is a new revision.
// Drivers apply what they can and the compose mapping documents what they
// cannot (docs/compose.md).
type ContainerOptions struct{}
