// Package logs stores the stdout/stderr lines of every instance and answers
// queries over them (`haven logs SERVICE [--instance] [--since] [--grep]
// [--field k=v] [-f]`). It replaces reading logs from the driver on demand,
// so lines survive instance replacement and server restarts.
//
// # Layout
//
// Each service has a directory <Dir>/<app>/<env>/<service> (names escaped)
// of append-only segment files. The active segment is named
// <seq>.seg; when it reaches Options.SegmentBytes it is fsynced and renamed
// to <seq>_<min>_<max>_<lines>.seg, where min and max are the first and last
// line times in Unix nanoseconds. Those names are the index: a query with
// Since or Until opens only segments whose range overlaps, and Open reads no
// sealed segment at all.
//
// A segment is a sequence of records:
//
//	u32 length | u32 CRC-32C of payload | payload
//	payload: i64 time | u8 flags | instance | stream | text | nfields | (key value)*
//
// (strings and counts are uvarint-prefixed, integers little-endian). Binary
// records are used rather than JSON because encoding and decoding them costs
// nothing next to the write, and the CRC makes a torn or overwritten record
// detectable: reading stops at the first record that is incomplete or fails
// its CRC. Open truncates an unsealed segment to its last whole record, so a
// record torn by a crash is dropped and appending continues after it.
//
// # Ingest
//
// Append normalises each line before storing it: a line longer than
// Options.MaxLineBytes is cut (at a rune boundary) and marked Truncated; a
// line with invalid UTF-8 or NUL bytes has those bytes escaped as \xNN and
// is marked Binary; a line that is a JSON object has its top-level string,
// number and boolean values parsed into Fields. A bad line is never an
// error: only a line without env, app or service is refused.
//
// # Durability
//
// Append returns once its records have been written to the operating system
// (one write(2) per service per call), so:
//
//   - kill -9 of the server, or a panic, loses no line Append returned for:
//     the kernel holds the data and writes it out;
//   - a machine crash or power loss loses at most the lines appended in the
//     last fsync window: a background goroutine fsyncs written segments
//     (and directories that gained or lost files) every 100 ms, so the window
//     is about 100 ms plus the time the fsync takes. A record torn by the
//     crash is dropped by Open;
//   - Close (the server's graceful shutdown) fsyncs and seals every
//     segment before returning: every line Append returned for is on disk;
//   - Sync fsyncs every active segment now, for callers that need a point of
//     durability without closing.
//
// Lines not yet handed to Append (buffered by the agent while it reads a
// container's output) are the caller's to lose.
//
// # Retention
//
// On every rotation and once a minute, a service's oldest sealed segments
// are deleted while its segments exceed Options.MaxBytesPerService, and
// every segment whose newest line is older than Options.MaxAge is deleted
// (an idle active segment that old is sealed first). Disk use per service
// therefore stays within MaxBytesPerService plus one segment.
//
// # Queries
//
// Query merges the lines of all instances of a service in time order (ties
// in append order). Segments overlap in time only a little (lines of a batch
// reach the store after the lines of later batches of other instances), so
// the merge streams: after reading a segment it emits every pending line no
// newer than the oldest line of any segment not yet read. With Follow it
// then streams lines in append order as they are appended, until the
// context ends.
//
// May import: stdlib.
package logs
