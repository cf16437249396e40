// Package e2e tests the haven binary end to end: it builds cmd/haven and
// internal/testapp, runs real servers (process and Docker drivers) on
// loopback, drives them through the CLI, and checks outcomes through the
// ingress, the engine and exit codes.
package e2e
