// Package audit keeps Haven's audit trail: one record per mutating API call
// and per denied call of a known actor, and a count of refused anonymous
// requests per source and minute, saying who did what to which target,
// from where, when, and how it ended.
//
// The trail is one append-only file, <data-dir>/audit.log (JSON lines, mode
// 0600). Each record carries a sequence number and a hash of its own fields
// and of the previous record's hash, so the records form a chain: editing a
// record breaks its hash, deleting one leaves a gap in the sequence, and
// reordering breaks the links. A small anchor file, audit.log.head,
// remembers the sequence number and hash of the newest record, because
// cutting records off the end leaves a shorter chain that is valid in
// itself. Verify walks the file and the anchor and names the first record
// that is not as written.
//
// # Keyed records
//
// Haven opens its trail with a key (Options.Key): its own 32-byte key
// "audit-mac" from the secrets store, which keeps it sealed under the
// master key. Each record's Hash is then an HMAC-SHA256 under that key
// (ComputeMAC; the record says "scheme":"hmac-sha256"), and the head
// carries a MAC too, over the newest record's seq and hash and KeyedFrom,
// the first keyed record. Without the key nobody can compute a record's
// hash, so nobody can edit, insert or re-chain records, nor move the point
// where keyed records start; VerifyKey (and Log.Verify, and `haven audit
// verify`) checks every MAC. Open refuses a keyed trail without its key
// (ErrKeyRequired) and one whose head does not verify under the key
// (ErrBroken: rewritten without the key, or the wrong key).
//
// Records written before keyed trails existed, and by a Log without a key,
// have no scheme: their Hash is the plain SHA-256 of ComputeHash, which
// anyone can compute. Such a trail keeps verifying: the first keyed Open
// continues it keyed, records "audit.keyed" (naming the unkeyed prefix)
// and Verify reports the prefix in Report.Unkeyed. The unkeyed prefix
// proves what the chain always did — no accident or careless edit went
// unnoticed, and nothing was cut off since the trail became keyed — but
// not that an attacker with write access to the data directory left it
// alone before the key existed: they could have rewritten it whole.
// An unkeyed record after a keyed one, or at or past KeyedFrom, is a
// forgery and Verify names it.
//
// # Fail closed
//
// Log.Append returns only once the record and the anchor are on disk
// (fsync). When it cannot, its error wraps ErrUnavailable and the API refuses
// the mutating call with 503 rather than perform it unrecorded. To make the
// trail unwritable — as an operator, or in a test — run
//
//	chmod a-w <data-dir>/audit.log
//
// Append honours the missing write bit even when Haven runs as root (which
// the kernel would let write), because it reopens the file for each record
// and checks it. It also refuses when the file was removed, replaced by
// another file, or changed in length by someone else, and of course on any
// write or fsync error such as a full disk. `chmod u+w` makes it
// writable again and the next append continues the chain.
//
// # Threat model
//
// The chain detects edits and deletions by anyone who changes the file:
// a careless administrator, a script that "cleans up" a log, a restore from
// the wrong backup, a partial disk failure, and — because records are
// keyed — an attacker who can write the data directory but does not hold
// the master key (the data directory's master.key file, or
// HAVEN_MASTER_KEY). Rewriting the chain from the record they want to
// change onwards, and the head with it, needs the audit key, so Verify
// names the first record they touched, and Open refuses a trail whose head
// they rewrote.
//
// What it does not stop:
//
//   - Whoever holds the master key (or root on a running server, who can
//     read the key from its memory) can rewrite keyed records at will.
//   - Replacing the trail and the store together. Rewriting every record
//     in the unkeyed format with a head without a MAC, which looks like a
//     trail from before keyed trails, is refused: once a start has keyed
//     the trail, Haven marks that in its store (Options.Keyed), so an
//     unkeyed trail is taken for a replaced one. But an attacker who also
//     edits the store file (removing that mark, or the audit key with it)
//     or deletes both trail files, so that Haven starts a new trail, gets a
//     trail that verifies; the trace left is a new "audit.keyed" record and
//     Report.Unkeyed counting the old trail.
//   - When a record was written: the time comes from the server's clock.
//
// The cure for all three is a copy the server cannot rewrite: Options.Sinks
// sends every record, as it is appended, to a webhook or syslog receiver
// on another host (`haven server --audit-webhook URL`, `--audit-syslog
// tcp://HOST:PORT`). The local file is the one that fails closed; sinks are
// best-effort, so that a dead receiver never stops the API: each has a
// bounded queue (Options.SinkQueue), records are sent in order and retried
// with backoff, and a record that finds the queue full, or is still queued
// when Close gives up (Options.SinkDrain), is dropped, counted
// (Log.SinkStats) and logged. The receiver sees every drop as a gap in
// Seq, and may see a retried record twice.
//
// # Floods
//
// A record costs three fsyncs and appends are serialized, so a record per
// refused anonymous request would let anyone slow every authorized call
// and grow the file without bound. Callers count such events with an
// Aggregator instead: one record per key (actor, action, source, …) and
// minute, with the number in Count, written after the minute closes and on
// Close. An Aggregator keeps at most MaxKeys keys a minute, counting the
// rest under "others", so its memory and the records a minute can add are
// bounded whatever the number of sources. Allow gives a known actor's
// refusals a record each up to a per-minute budget. Every string field is
// bounded (at most MaxField bytes; the user agent 256, the source 64) and
// its control characters escaped, so a record stays under about 2 KB and
// cannot drive the terminal of whoever reads it.
//
// A crash while appending can leave a last line without its newline. The
// call it recorded never went ahead (Append had not returned), so Open
// removes that line and logs a warning. Open repairs nothing else: if the
// anchor and the end of the file disagree it fails with ErrBroken and leaves
// both as evidence.
//
// # Secrets
//
// Records never hold secret values. There is no free-form payload field;
// callers must put names, never values, in Target ("secret prod/db_password")
// and short reasons, never request data, in Result ("error: version
// conflict").
//
// May import: stdlib.
package audit
