// Package metrics is Haven's embedded time-series store: the history behind
// `haven top`, `haven metrics` and the alert rules, kept on the server with
// no external database.
//
// # Model
//
// A series is a metric name plus labels (env, app, service, instance, …);
// Append adds gauge samples to it (rates are computed by the collector).
// Each tier (by default 2 s buckets for an hour and 1 min buckets for a
// week) is a ring of Retention/Step slots per series. Every sample is folded
// into every tier at once, so a coarse bucket holds the true average of the
// raw samples in it. A bucket is kept exactly while it is one of the tier's
// newest Retention/Step buckets, counted from the clock (not from the
// series' last sample), so a silent series ages out like a live one.
// Only the average is kept, not the maximum, to halve memory; values are
// float32 (about 7 significant digits). Append takes about 0.25 µs (see
// BenchmarkAppend), so 500 series every 2 s cost well under 0.1% of a core.
//
// # Bounds
//
// Memory is paged: a ring allocates 256-slot pages (1 KiB) only where it
// has data and frees them as they expire. With MaxSeries series and every
// slot full a series costs Σ slots × 4 bytes plus a fixed part bounded by
// the identity limits (MaxKeyBytes, MaxLabels): with the default tiers
// (1800 + 10080 slots) at most 54 KB, of which 47.5 KB values, so the
// default MaxSeries of 5000 bounds memory at 270 MB (memory scales linearly:
// MaxSeries 1000 bounds it at 54 MB), while a realistic node (50 instances
// × 10 metrics plus routes and the node, ~800 series) uses about 40 MB once
// a week of history is in. StoreStats reports the estimate and the bound. A sample that would create a series beyond
// MaxSeries evicts the series silent the longest if it has been silent for
// longer than the finest tier's retention (replaced instances bring new
// series on every deploy); otherwise it is refused with ErrTooManySeries
// and counted. Nothing grows without bound.
//
// # Persistence
//
// Every SnapshotInterval (30 s by default) and on Close, each tier is
// written to one file in Dir (tier0.snap, tier1.snap, …) through
// atomicfile.WriteFile: a versioned binary format, pages with data only,
// and a CRC-32C trailer. A kill -9 loses at most the samples since the last
// snapshot (30 s by default); Open loads what the files hold. A corrupt,
// truncated, older-version or other-tier file is logged, counted
// (StoreStats.SkippedFiles) and skipped — that tier starts empty and the
// next snapshot overwrites it — never a failed start. The disk bound is the
// size of these files, which like memory is fixed by series × slots (at
// most 261 MB at the defaults, ~52 KB per full series); StoreStats reports
// both. A snapshot encodes one tier at a time under a read lock, so it
// briefly holds one tier's file in memory too, and Append waits while a
// tier is encoded (milliseconds for a realistic store). One Store owns a
// Dir at a time.
//
// May import: atomicfile, stdlib.
package metrics
