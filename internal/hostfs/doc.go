// Package hostfs measures what the host's kernel knows about processes and
// filesystems: /proc files read into reusable buffers, network counters of
// a process's network namespace, disk usage of a directory tree, and how
// full filesystems are. Both drivers' StatsReader use it.
//
// May import: stdlib only.
package hostfs
