// Package layering holds the test that keeps the architecture written down
// true: every package's doc.go ends its description with a line that starts
// "May import:", and that line must name exactly the project packages the package
// imports (stdlib is always allowed, third-party modules are named by a
// fragment of their path, parenthesized notes are ignored). A new import
// that the line does not name, or a named package no longer imported,
// fails the test with the line to write.
//
// May import: stdlib only. Used only from tests.
package layering
