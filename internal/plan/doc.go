// Package plan holds Haven's decisions as pure functions: given the desired
// state of an app+environment, what was observed of its instances and the
// time, which instances to start, stop or remove, and why services wait.
// Nothing here does I/O or reads a clock; the agent observes, calls Decide
// and executes the returned Plan without further thought.
//
// May import: spec.
package plan
