// Package driver declares the seam between Haven and whatever runs
// instances: the Driver interface, the values that cross it, and the errors
// a driver reports. Implementations live in sub-packages (driver/docker,
// driver/process); driver/drivertest is the conformance suite every driver
// must pass.
//
// Optional abilities are interfaces of their own, found through wrappers
// such as Owned with CopierOf, ExecerOf and ImageSizerOf: VolumeCopier
// (clone an environment's volumes), Execer (run a command in a running
// instance, `haven exec`), ImageSizer (an image's size, `haven images`).
//
// A driver carries no decisions: it starts, stops, lists and reports. What
// to start and when is decided by the agent (through package plan).
//
// May import: spec.
package driver
