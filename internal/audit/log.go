package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable wraps every failure to append a record: the file cannot be
// opened for writing, is read-only, was replaced or changed underneath us,
// the disk is full, fsync failed, or the Log is closed. The API answers the
// mutating call with 503 and does not perform it (fail closed).
var ErrUnavailable = errors.New("audit log unavailable")

// ErrBroken is returned by Open when the file's end and its head anchor
// disagree, or the last record cannot be read: continuing the chain there
// would overwrite the evidence. Verify says what is wrong.
var ErrBroken = errors.New("audit chain broken")

// ErrKeyRequired is returned by Open without Options.Key for a trail that
// is keyed: appending unkeyed records to it would downgrade it.
var ErrKeyRequired = errors.New("audit trail is keyed")

// MinKeySize is the shortest Options.Key Open accepts, in bytes.
const MinKeySize = 16

// Options tunes a Log; the zero value is ready to use.
type Options struct {
	// Now is the clock stamped on records; nil means time.Now.
	Now func() time.Time
	// Logger receives the warning when Open repairs a torn last line; nil
	// means slog.Default().
	Logger *slog.Logger
	// Key, when set, makes every new record's Hash an HMAC-SHA256 under it
	// (Scheme SchemeHMAC) and authenticates the head, so that rewriting
	// the chain needs the key. Haven passes its own key from the secrets
	// store, sealed under the master key. A trail of unkeyed records from
	// before keys existed is continued keyed; see the package
	// documentation for what its unkeyed prefix proves. At least
	// MinKeySize bytes; 32 is right for HMAC-SHA256.
	Key []byte
	// Keyed says this trail was keyed by an earlier start (Haven records
	// that in its store, sealed under the master key, once a start has
	// keyed it). Open then refuses a trail of unkeyed records only: that is
	// not a trail from before keys existed but one replaced wholesale by
	// someone without the key.
	Keyed bool
	// Sinks receive a copy of every record appended from now on, in order
	// and best-effort (see Sink); Close closes them.
	Sinks []Sink
	// SinkQueue bounds the records waiting for each sink; 0 means
	// DefaultSinkQueue.
	SinkQueue int
	// SinkDrain bounds how long Close waits for the sinks' queues to
	// empty; 0 means DefaultSinkDrain.
	SinkDrain time.Duration
}

// Log appends records to one file and keeps its head anchor current. It is
// safe for concurrent use; appends are serialized.
//
// The Log holds a read-only descriptor of the file, for its lock and for
// Query, but never writes through it: each Append opens the path anew with
// O_WRONLY|O_APPEND and checks that the file is still the one it opened,
// still as long as it left it, and still writable (see Append). Holding a
// writable descriptor would keep writing after an operator made the file
// read-only or moved it away. The extra open+fstat+close measured 2 µs; a
// whole append, dominated by the fsyncs of the record, the head and its
// directory, measured 1 ms (BenchmarkAppend, ext4 on a virtual disk).
// Appends happen once or twice per mutating API call, so neither matters.
type Log struct {
	path        string
	now         func() time.Time
	rd          *os.File    // read-only; holds the flock; read by Query
	id          os.FileInfo // identity of the file opened by Open
	recovered   string
	key         []byte // nil: unkeyed records (tests, old tools)
	mustBeKeyed bool   // Options.Keyed
	keyedFrom   uint64 // first keyed record's Seq; 0 when unkeyed
	sinks       []*forwarder
	upgraded    bool // Open began keying an unkeyed trail

	mu        sync.Mutex
	size      int64  // bytes of complete records; the file's expected length
	seq       uint64 // Seq of the newest record, 0 when empty
	last      string // Hash of the newest record
	headStale bool   // the last head write failed; redo it before appending
	closed    bool
}

// Open opens the audit log at path, creating it (0600) and its head anchor
// if they do not exist, and continues the chain from the last record.
//
// A last line without a newline is a record whose append was cut short by a
// crash — Append had not returned, so the call it recorded never went ahead
// — and Open truncates it, logs a warning and reports it in Recovered.
// Nothing else is repaired: if the head anchor names a record the file no
// longer ends with, or the last line is unreadable, Open fails with
// ErrBroken, leaving both files as they are. Edits further back are Verify's
// to find; Open reads only the tail.
//
// Only one Log may have a path open at a time, across processes (flock).
func Open(path string) (*Log, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*Log, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Key != nil && len(o.Key) < MinKeySize {
		return nil, fmt.Errorf("audit: the key is %d bytes; use at least %d (secrets.Store.SystemKey gives 32)", len(o.Key), MinKeySize)
	}
	_, statErr := os.Lstat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	rd, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l, err := open(path, rd, o)
	if err != nil {
		rd.Close()
		return nil, err
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			l.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	if l.recovered != "" {
		o.Logger.Warn("audit log repaired", "path", path, "what", l.recovered)
	}
	queue := o.SinkQueue
	if queue <= 0 {
		queue = DefaultSinkQueue
	}
	drain := o.SinkDrain
	if drain <= 0 {
		drain = DefaultSinkDrain
	}
	for _, s := range o.Sinks {
		l.sinks = append(l.sinks, newForwarder(s, queue, drain, o.Logger))
	}
	if l.upgraded {
		// The trail itself says when it became keyed and how much of it
		// is not: a second such record, or a recent one on an
		// installation keyed long ago, is a trail replaced wholesale.
		n := l.keyedFrom - 1
		if _, err := l.Append(Record{Actor: "haven", Action: "audit.keyed", Source: "local", Result: "ok",
			Target: fmt.Sprintf("%s written before keyed trails, unkeyed; keyed from record %d", span(1, n), n+1)}); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

func open(path string, rd *os.File, o Options) (*Log, error) {
	if err := syscall.Flock(int(rd.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("audit: %s is in use by another Haven process", path)
		}
		return nil, fmt.Errorf("audit: lock %s: %w", path, err)
	}
	fi, err := rd.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: %s is not a regular file", path)
	}
	end, lines, err := tail(rd, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", path, err)
	}
	l := &Log{path: path, now: o.Now, rd: rd, id: fi, size: end, key: bytes.Clone(o.Key), mustBeKeyed: o.Keyed}
	if end < fi.Size() {
		if err := truncate(path, end); err != nil {
			return nil, fmt.Errorf("audit: remove torn last line of %s: %w", path, err)
		}
		l.recovered = fmt.Sprintf("removed a torn last line (%d bytes without a newline) left by an append cut short by a crash", fi.Size()-end)
	}

	var (
		lastHash, beforeHash string
		last                 Record
		anyKeyed             bool
	)
	for i, line := range lines {
		r, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: record before byte %d: %v; run `haven audit verify`", ErrBroken, path, end, err)
		}
		anyKeyed = anyKeyed || r.Scheme != ""
		if i == len(lines)-1 {
			l.seq, lastHash, last = r.Seq, r.Hash, r
		} else {
			beforeHash = r.Hash
		}
	}
	l.last = lastHash

	h, ok, err := readHead(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	if !ok && l.seq == 0 {
		// A new log (or a crash between creating it and its head).
		if l.key != nil {
			l.keyedFrom = 1
		}
		if err := l.writeHead(0, ""); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		return l, nil
	}
	if reason, _ := headProblem(h, ok, l.seq, lastHash, beforeHash); reason != "" {
		return nil, fmt.Errorf("%w: %s: %s; run `haven audit verify`, and to start a new chain move %s and %s aside",
			ErrBroken, path, reason, path, headPath(path))
	}
	upgraded, err := l.checkKey(h, last, anyKeyed)
	if err != nil {
		return nil, err
	}
	if h.Seq != l.seq || upgraded { // a crash between the record's fsync and the head's rename, or newly keyed
		if err := l.writeHead(l.seq, lastHash); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	if upgraded {
		o.Logger.Warn("audit trail keyed from now on: its older records are unkeyed and prove only what an unkeyed chain does",
			"path", path, "unkeyed_records", l.seq, "keyed_from", l.keyedFrom)
		l.upgraded = true
	}
	return l, nil
}

// checkKey decides, from the head and the last records, whether the trail
// is keyed and from where, and refuses a trail whose keyed part was
// rewritten without the key. upgraded is true for an unkeyed trail that
// this Log, having a key, continues keyed: the head must be rewritten to
// say so.
func (l *Log) checkKey(h head, last Record, anyKeyed bool) (upgraded bool, err error) {
	keyed := h.MAC != "" || h.KeyedFrom != 0 || anyKeyed
	switch {
	case l.key == nil && keyed:
		return false, fmt.Errorf("%w: %s holds records authenticated with Haven's audit key; open it with the key (a server with its master key does)", ErrKeyRequired, l.path)
	case l.key == nil:
		return false, nil
	case h.MAC != "" && !h.authentic(l.key):
		return false, fmt.Errorf("%w: %s: the head is not authenticated by the audit key: the trail was rewritten without the key, or this is not the key it was written with; run `haven audit verify`", ErrBroken, l.path)
	case h.MAC != "":
		l.keyedFrom = h.KeyedFrom
		// The head vouches for the record it names; one record past it
		// (the crash case) must vouch for itself.
		if last.Seq >= l.keyedFrom && last.Seq > h.Seq && (last.Scheme != SchemeHMAC || hashOf(last, l.key) != last.Hash) {
			return false, fmt.Errorf("%w: %s: record %d is not authenticated by the audit key; run `haven audit verify`", ErrBroken, l.path, last.Seq)
		}
		return false, nil
	case keyed:
		return false, fmt.Errorf("%w: %s: keyed records but a head without a MAC: rewritten without the audit key; run `haven audit verify`", ErrBroken, l.path)
	}
	if l.mustBeKeyed {
		return false, fmt.Errorf("%w: %s holds no record authenticated by the audit key, but this data directory's trail was keyed before: it was replaced by one written without the key; restore audit.log and its head from a backup or the audit sink", ErrBroken, l.path)
	}
	// Unkeyed records only, from before keyed trails: key from the next one.
	l.keyedFrom = l.seq + 1
	return true, nil
}

// writeHead writes the anchor for the record seq with hash, signed when
// the Log has a key.
func (l *Log) writeHead(seq uint64, hash string) error {
	h := head{Seq: seq, Hash: hash}
	if l.key != nil {
		h.KeyedFrom = l.keyedFrom
		h = h.sign(l.key)
	}
	return writeHead(l.path, h)
}

// headProblem compares the head anchor with the end of the chain: the
// newest record's seq and hash and the hash of the one before it. The head
// may lag by one record (a crash after the record was written but before the
// head was renamed into place); anything else is a problem, described in
// reason, with the first sequence number it affects.
func headProblem(h head, ok bool, lastSeq uint64, lastHash, beforeHash string) (reason string, firstBad uint64) {
	switch {
	case !ok:
		return fmt.Sprintf("the head file is missing but the log holds %d records", lastSeq), 1
	case h.Seq > lastSeq:
		return fmt.Sprintf("the log ends at record %d but the head names record %d (records deleted from the end)", lastSeq, h.Seq), lastSeq + 1
	case h.Seq == lastSeq && h.Hash != lastHash:
		return fmt.Sprintf("the head does not match record %d (last record replaced)", lastSeq), lastSeq
	case h.Seq == lastSeq:
		return "", 0
	case h.Seq+1 == lastSeq && h.Hash != beforeHash:
		return fmt.Sprintf("the head does not match record %d (record replaced)", h.Seq), h.Seq
	case h.Seq+1 == lastSeq:
		return "", 0
	default:
		return fmt.Sprintf("the head names record %d but the log ends at %d (records appended behind the log's back, or the head was rolled back)", h.Seq, lastSeq), h.Seq + 2
	}
}

// Recovered describes what Open repaired, or is "" when nothing was.
func (l *Log) Recovered() string { return l.recovered }

// Path is the file the Log appends to.
func (l *Log) Path() string { return l.path }

// Append fills in r's Seq, Time, Prev and Hash, writes it as one JSON line
// and fsyncs it and the head anchor before returning the completed record.
// Control characters in strings are escaped and every string is cut to its
// field's bound (at most MaxField bytes); Actor, Action and Result must be
// set. With Options.Key the record is keyed (Scheme SchemeHMAC).
//
// Every failure to make the record durable wraps ErrUnavailable, and the
// caller must then refuse the call it was about to make. Before writing,
// Append opens the path anew and refuses when it is gone or not the file
// Open opened (replaced or moved), when its length is not what this Log
// left (written or truncated by someone else), or when its mode has no
// owner-write bit. The last check is a rule, not a permission check: root
// may write to a 0400 file, but `chmod a-w audit.log` is an operator saying
// "stop writing here", and the audit trail honours it whoever it runs as.
// A failed or short write is truncated away so the next append, once the
// cause is gone, continues a clean chain.
func (l *Log) Append(r Record) (Record, error) {
	if r.Actor == "" || r.Action == "" || r.Result == "" {
		return Record{}, fmt.Errorf("audit: a record needs an actor, an action and a result (got %q, %q, %q)", r.Actor, r.Action, r.Result)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Record{}, fmt.Errorf("%w: closed", ErrUnavailable)
	}
	if l.headStale {
		if err := l.writeHead(l.seq, l.last); err != nil {
			return Record{}, fmt.Errorf("%w: write head: %v", ErrUnavailable, err)
		}
		l.headStale = false
	}

	r.Seq = l.seq + 1
	r.Time = l.now().UTC() // UTC also drops the monotonic reading
	r.Prev = l.last
	lim := fieldLimits
	r.Actor, r.Action, r.Target = bound(r.Actor, lim.actor), bound(r.Action, lim.action), bound(r.Target, lim.target)
	r.Env, r.Source = bound(r.Env, lim.env), bound(r.Source, lim.source)
	r.UserAgent, r.Result = bound(r.UserAgent, lim.userAgent), bound(r.Result, lim.result)
	if l.key != nil {
		r.Scheme, r.Hash = SchemeHMAC, ComputeMAC(r, l.key)
	} else {
		r.Scheme, r.Hash = "", ComputeHash(r)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')

	if err := l.write(line); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, l.path, err)
	}
	l.size += int64(len(line))
	l.seq, l.last = r.Seq, r.Hash
	// In the file now, so in the chain: the sinks get it even if the head
	// write below fails.
	for _, f := range l.sinks {
		f.offer(sinkItem{r: r, line: line[:len(line)-1]})
	}
	if err := l.writeHead(r.Seq, r.Hash); err != nil {
		// The record is durable but its anchor is not: refuse the call all
		// the same, and bring the head up to date before the next record.
		l.headStale = true
		return Record{}, fmt.Errorf("%w: write head: %v", ErrUnavailable, err)
	}
	return r, nil
}

// write appends line to the file with one write(2) and fsyncs it, after
// checking that the file is still ours and writable (see Append).
func (l *Log) write(line []byte) (err error) {
	// No O_CREATE: a log that vanished must not silently restart a chain.
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return err
	case !os.SameFile(fi, l.id):
		return errors.New("the file was replaced since the log was opened")
	case fi.Mode().Perm()&0o200 == 0:
		return fmt.Errorf("the file is read-only (mode %v)", fi.Mode().Perm())
	case fi.Size() != l.size:
		return fmt.Errorf("the file is %d bytes but the log wrote %d: changed by someone else", fi.Size(), l.size)
	}
	// os.File.Write issues a single write(2) unless the kernel writes short,
	// which for a line under a page on a local file means an error.
	n, err := f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if n > 0 {
			// Best effort: take the partial or unsynced line back out. If
			// this fails too, the next append sees the wrong length and
			// refuses, and the next Open removes the torn line.
			if terr := f.Truncate(l.size); terr == nil {
				_ = f.Sync()
			}
		}
		return err
	}
	return nil
}

// Close releases the file; later appends fail with ErrUnavailable. It
// then gives each sink a few seconds to take what is queued for it, and
// closes them.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.rd.Close()
	sinks := l.sinks
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, f := range sinks {
		wg.Go(func() { _ = f.close() })
	}
	wg.Wait()
	return err
}

// SinkStats reports what each sink has delivered, retried and dropped.
func (l *Log) SinkStats() []SinkStats {
	out := make([]SinkStats, 0, len(l.sinks))
	for _, f := range l.sinks {
		out = append(out, f.stats())
	}
	return out
}

// Verify checks the log's file and head while holding off appends; see the
// package function Verify.
func (l *Log) Verify() (Report, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return VerifyKey(l.path, l.key)
}

// tail finds the end of the last complete (newline-terminated) line of the
// first size bytes of f, and returns it with up to the last two complete
// lines, oldest first, without their newlines. It reads backwards from the
// end, so Open costs the same for a large log as for a small one.
func tail(f *os.File, size int64) (end int64, lines [][]byte, err error) {
	chunk := int64(64 << 10)
	for {
		start := max(size-chunk, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return 0, nil, err
		}
		// Three newlines delimit the last two complete lines; at the start
		// of the file the start itself is a delimiter.
		if start > 0 && bytes.Count(buf, []byte{'\n'}) < 3 {
			chunk *= 4
			continue
		}
		nl := bytes.LastIndexByte(buf, '\n')
		if nl < 0 {
			return 0, nil, nil // no complete line at all
		}
		end = start + int64(nl) + 1
		all := bytes.Split(buf[:nl], []byte{'\n'})
		if start > 0 {
			all = all[1:] // may begin mid-line
		}
		return end, all[max(len(all)-2, 0):], nil
	}
}

// truncate cuts the file at path to n bytes and makes that durable.
func truncate(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(n)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
