// Package golden compares test output with files kept under testdata/:
// a change of behaviour shows as a diff of a whole file. `go test -update`
// rewrites the files, to be reviewed and committed.
//
// May import: stdlib only. Used only from tests.
package golden
