// Package drivertest is the conformance suite every driver.Driver must pass.
// A driver's own tests call Run with a Harness that knows how to create the
// driver and how to describe a service running internal/testapp for it; the
// suite then checks the contract written on driver.Driver against the real
// runtime: start and list, stop and SIGKILL escalation, exit detection,
// logs, adoption by a new Driver value, env, replicas and concurrency.
//
// Every case uses its own app name and cleans up what it started, so cases
// run in parallel and a failed run leaves nothing behind.
//
// May import: spec, driver.
package drivertest
