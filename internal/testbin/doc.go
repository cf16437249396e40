// Package testbin builds Haven's test programs (internal/testapp, cmd/haven)
// into static binaries once per test process, for tests that need a real
// executable to run as an instance or a server.
//
// May import: stdlib only. Used only from tests.
package testbin
