// Package proctest is a test helper that reads what the kernel says a
// process had, straight from /proc, so that tests of CPU figures can
// compare them with the truth of the same moments instead of with a
// nominal core that a loaded machine never gives. It shares no code with
// the drivers' own measurements on purpose.
//
// May import: stdlib only. Used only from tests.
package proctest
