// Package audit keeps Haven's audit trail: one record per mutating API call
// and per denied or failed authentication, saying who did what to which
// target, from where, when, and how it ended.
//
// The trail is one append-only file, <data-dir>/audit.log (JSON lines, mode
// 0600). Each record carries a sequence number and the SHA-256 hash of its
// own fields and of the previous record's hash, so the records form a chain:
// editing a record breaks its hash, deleting one leaves a gap in the
// sequence, and reordering breaks the links. A small anchor file,
// audit.log.head, remembers the sequence number and hash of the newest
// record, because cutting records off the end leaves a shorter chain that is
// valid in itself. Verify walks the file and the anchor and names the first
// record that is not as written.
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
// The chain detects edits and deletions by anyone who changes the file
// without recomputing every hash after the change and rewriting the anchor:
// a careless administrator, a script that "cleans up" a log, a restore from
// the wrong backup, a partial disk failure. It does not stop an attacker who
// can write to the data directory: they can rewrite the whole chain from the
// record they want to change onwards, and the anchor with it, and Verify
// will find nothing. Nor does it prove when a record was written; the time
// comes from the server's clock. The cure for both is to send each record,
// as it is appended, to a sink the server cannot rewrite (syslog on another
// host, object storage with retention locks); that is planned, not built.
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
