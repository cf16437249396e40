// Package collect measures everything Haven runs, every couple of seconds,
// and hands the figures to two readers that must agree: Haven's own
// time-series store (through a Sink) and Prometheus (through Handler, the
// /metrics endpoint in the exposition format).
//
// One Collector pass (Collect) reads, per running instance, the driver's
// cumulative counters (driver.StatsReader: cgroup and /proc files, no
// Engine round trip per instance), per routed service and revision the
// ingress's request counters (proxy.GroupStats), and per node /proc and
// statfs. It turns counters into rates and interval quantiles against the
// previous pass, appends every value to the Sink, and keeps the whole pass
// as one immutable Snapshot. /metrics renders the latest Snapshot, never a
// fresh reading, so a scrape and the store report the same numbers.
//
// Every metric is listed in Catalog with its store name (what `haven
// metrics` and alert rules use, e.g. "cpu_cores"), its Prometheus name
// ("haven_instance_cpu_cores"), type and labels; docs/metrics.md is the
// user-facing copy of that table.
//
// May import: spec, driver, proxy, stdlib, client_golang.
package collect
