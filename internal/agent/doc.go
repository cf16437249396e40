// Package agent is the node loop. Each pass it observes (the store's desired
// deployments, the driver's instances, health probe results), asks package
// plan what to do, and acts: starts instances, drains and stops them, and
// rebuilds the ingress routing table from healthy instances only.
//
// The loop runs every second and at once when something happens (a driver
// event such as an exit, a health change, a deploy). It keeps no state that
// matters across a crash: instances are rediscovered from the driver's
// labels, desired state is in the store. What it keeps in memory (crash
// counts, probe results, instances being drained) is rebuilt or re-decided
// after a restart.
//
// May import: spec, plan, release, driver, proxy, store, logs.
package agent
