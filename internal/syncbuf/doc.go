// Package syncbuf is a test helper: a bytes.Buffer that a logger's or a
// server's goroutines may write while the test reads it.
//
// May import: stdlib only. Used only from tests.
package syncbuf
