// Package benchkit holds what Haven's benchmark commands share: running
// commands from the repository with a timeout, finding the repository and
// free loopback ports, and formatting command output for reports.
//
// May import: stdlib only.
package benchkit
