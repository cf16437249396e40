// Package alerts decides when something Haven runs needs a person, and
// tells them.
//
// It has two halves, kept apart on purpose (see DESIGN.md, "observe →
// decide → act"):
//
//   - Decision: Rule, Evaluate and their types are pure. Evaluate takes the
//     rules, the latest value of each metric per series, the alert states of
//     the previous pass, the silences and the time, and returns the next
//     states and the notifications to send. It reads no clock and does no
//     I/O, so every transition is tested with a fake clock and tables.
//   - Delivery: Webhook and Email are Notifiers (one attempt each, no
//     retries); a Dispatcher queues notifications per notifier, retries
//     with exponential backoff, never blocks its caller, and keeps a record
//     of every attempt.
//
// The alert lifecycle, per rule and series:
//
//	condition true ──► pending ──(held for Rule.For)──► firing ──► resolved ──(KeepResolved)──► dropped
//	                      │                                          ▲
//	                      └──(condition false: dropped, never told)  └── condition false or series gone
//
// A firing alert notifies once ("firing"), then again every repeat interval
// ("repeat", Rule.RepeatInterval, 4h by default); its resolution notifies
// too ("resolved"), but only when someone was told it fired. A silenced
// alert keeps walking the same states (so the console still shows it) but
// produces no notification; when the silence ends, a still-firing alert
// that was never announced is announced at once.
//
// May import: stdlib.
package alerts
