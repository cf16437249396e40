package logs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of the log store.
var (
	// ErrInvalid is returned for a line or query without env, app or service.
	ErrInvalid = errors.New("logs: invalid request")
	// ErrClosed is returned by calls on a closed Store, and by a following
	// Query when the Store closes.
	ErrClosed = errors.New("logs: store closed")
)

// Defaults for Options fields left zero.
const (
	DefaultSegmentBytes       = 8 << 20
	DefaultMaxBytesPerService = 256 << 20
	DefaultMaxAge             = 7 * 24 * time.Hour
	DefaultMaxLineBytes       = 64 << 10
)

// syncInterval bounds what a machine crash can lose; retainInterval is how
// often retention runs besides on rotation (age retention of idle services).
const (
	syncInterval   = 100 * time.Millisecond
	retainInterval = time.Minute
)

// Line is one line of an instance's output.
type Line struct {
	Time     time.Time `json:"time"`
	Env      string    `json:"env"`
	App      string    `json:"app"`
	Service  string    `json:"service"`
	Instance string    `json:"instance"`
	Stream   string    `json:"stream"` // "stdout" or "stderr"
	Text     string    `json:"text"`
	// Fields are parsed from JSON object lines at ingest.
	Fields map[string]string `json:"fields,omitempty"`
	// Truncated and Binary are set by the store (see the package doc).
	Truncated bool `json:"truncated,omitempty"`
	Binary    bool `json:"binary,omitempty"`
}

// Options configure a Store. Zero fields take the defaults.
type Options struct {
	// Dir holds the segment files; it is created if missing.
	Dir string
	// SegmentBytes is the size at which a segment is sealed and a new one
	// begun (default 8 MiB).
	SegmentBytes int64
	// MaxBytesPerService bounds a service's sealed segments (default 256
	// MiB); with the active segment a service uses at most this plus
	// SegmentBytes.
	MaxBytesPerService int64
	// MaxAge is how long lines are kept (default 7 days).
	MaxAge time.Duration
	// MaxLineBytes is the longest text stored; longer lines are cut and
	// marked Truncated (default 64 KiB).
	MaxLineBytes int
	// Now is the clock for retention and for lines without a time
	// (default time.Now).
	Now func() time.Time
}

// Store is the log store. Its methods are safe for concurrent use.
type Store struct {
	opts Options

	mu       sync.Mutex
	services map[key]*service
	closed   bool
	syncErr  error // the first background fsync error, reported by Sync and Close

	done   chan struct{} // closed by Close: ends followers and the background loop
	bgDone chan struct{}
}

type key struct{ app, env, service string }

// service is one service's segments. All fields are guarded by Store.mu.
type service struct {
	key    key
	dir    string
	made   bool       // dir exists
	segs   []*segment // by seq; the last is active when f != nil
	f      *os.File   // the active segment, open for append
	dirty  bool       // f written since the last background fsync
	dirDir bool       // dir gained or lost entries since the last fsync
	seq    uint64     // the last seq used
	notify chan struct{}
}

// segment describes one file. Fields are guarded by Store.mu; readers copy
// them into a segRef.
type segment struct {
	seq      uint64
	path     string
	size     int64 // bytes of whole records; readers never read past it
	lines    int64
	min, max int64 // line times, Unix ns; meaningful when lines > 0
	sealed   bool
	deleted  bool
}

// Open opens (or creates) the store in opts.Dir. Segments left unsealed by
// a crash are checked, cut after their last intact record, and sealed;
// appending continues in new segments.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: no directory", ErrInvalid)
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.MaxBytesPerService <= 0 {
		opts.MaxBytesPerService = DefaultMaxBytesPerService
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	// A record's length is a u32; leave room for the other fields.
	opts.MaxLineBytes = min(opts.MaxLineBytes, 256<<20)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Dir = filepath.Clean(opts.Dir)
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open logs: %w", err)
	}
	s := &Store{
		opts:     opts,
		services: map[key]*service{},
		done:     make(chan struct{}),
		bgDone:   make(chan struct{}),
	}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("open logs %s: %w", opts.Dir, err)
	}
	go s.background()
	return s, nil
}

// load finds every service directory <Dir>/<app>/<env>/<service>.
func (s *Store) load() error {
	apps, err := readDirs(s.opts.Dir)
	if err != nil {
		return err
	}
	for _, app := range apps {
		envs, err := readDirs(filepath.Join(s.opts.Dir, app))
		if err != nil {
			return err
		}
		for _, env := range envs {
			svcs, err := readDirs(filepath.Join(s.opts.Dir, app, env))
			if err != nil {
				return err
			}
			for _, name := range svcs {
				k := key{unescapeName(app), unescapeName(env), unescapeName(name)}
				svc := s.newService(k)
				svc.made = true
				if err := s.loadService(svc); err != nil {
					return err
				}
				s.services[k] = svc
			}
		}
	}
	return nil
}

func readDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func (s *Store) loadService(svc *service) error {
	entries, err := os.ReadDir(svc.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".seg") {
			continue
		}
		seg, ok := parseSegmentName(name)
		if !ok {
			continue
		}
		seg.path = filepath.Join(svc.dir, name)
		svc.seq = max(svc.seq, seg.seq)
		if seg.sealed {
			info, err := e.Info()
			if err != nil {
				return err
			}
			seg.size = info.Size()
			svc.segs = append(svc.segs, seg)
			continue
		}
		if err := s.recover(svc, seg); err != nil {
			return err
		}
		if !seg.deleted {
			svc.segs = append(svc.segs, seg)
		}
	}
	slices.SortFunc(svc.segs, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })
	return nil
}

// recover scans a segment a crash left unsealed, cuts a torn tail, and
// seals it (or removes it when it holds no line).
func (s *Store) recover(svc *service, seg *segment) error {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return err
	}
	var off int
	seg.min, seg.max = math.MaxInt64, math.MinInt64
	for off < len(data) {
		r, n, ok := readRecord(data[off:])
		if !ok {
			break
		}
		seg.lines++
		seg.min, seg.max = min(seg.min, r.time), max(seg.max, r.time)
		off += n
	}
	seg.size = int64(off)
	if seg.lines == 0 {
		seg.deleted = true
		return os.Remove(seg.path)
	}
	if off < len(data) {
		// The torn record was never acknowledged whole; drop it so nothing
		// is ever appended behind garbage.
		if err := os.Truncate(seg.path, int64(off)); err != nil {
			return err
		}
	}
	return s.sealFile(svc, seg, nil)
}

func (s *Store) newService(k key) *service {
	return &service{
		key:    k,
		dir:    filepath.Join(s.opts.Dir, escapeName(k.app), escapeName(k.env), escapeName(k.service)),
		notify: make(chan struct{}),
	}
}

// service returns the service's state, creating it in memory (not on disk).
// s.mu is held.
func (s *Store) service(k key) *service {
	svc := s.services[k]
	if svc == nil {
		svc = s.newService(k)
		s.services[k] = svc
	}
	return svc
}

// batch is the encoded records of one Append call for one service.
type batch struct {
	key   key
	buf   []byte
	ends  []int   // end offset of each record in buf
	times []int64 // time of each record
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

// Append stores lines. It encodes them (the costly part, done without the
// lock so concurrent callers use every core), then writes each service's
// records with one write. It returns once the data is with the operating
// system; see the package doc for what that guarantees. A line without env,
// app or service fails the whole call, before anything is written.
func (s *Store) Append(lines ...Line) error {
	if len(lines) == 0 {
		return nil
	}
	now := s.opts.Now().UnixNano()
	var batches []*batch
	defer func() {
		for _, b := range batches {
			b.buf, b.ends, b.times = b.buf[:0], b.ends[:0], b.times[:0]
			batchPool.Put(b)
		}
	}()
	for i := range lines {
		l := lines[i] // a copy: normalising must not change the caller's slice
		if l.Env == "" || l.App == "" || l.Service == "" {
			return fmt.Errorf("%w: line %d has no env, app or service", ErrInvalid, i)
		}
		normalize(&l, now, s.opts.MaxLineBytes)
		k := key{l.App, l.Env, l.Service}
		var b *batch
		// Batches usually hold one service's lines; a scan beats a map.
		for _, c := range batches {
			if c.key == k {
				b = c
				break
			}
		}
		if b == nil {
			b = batchPool.Get().(*batch)
			b.key = k
			batches = append(batches, b)
		}
		b.buf = appendRecord(b.buf, &l)
		b.ends = append(b.ends, len(b.buf))
		b.times = append(b.times, l.Time.UnixNano())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, b := range batches {
		if err := s.write(b); err != nil {
			return fmt.Errorf("append logs of %s/%s/%s: %w", b.key.app, b.key.env, b.key.service, err)
		}
	}
	return nil
}

// write appends a batch to its service's active segment, rotating at
// SegmentBytes between records. s.mu is held.
func (s *Store) write(b *batch) error {
	svc := s.service(b.key)
	defer svc.wake()
	for i := 0; i < len(b.ends); {
		if svc.f == nil {
			if err := s.newSegment(svc); err != nil {
				return err
			}
		}
		seg := svc.segs[len(svc.segs)-1]
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		// Take the records that fit; an empty segment takes at least one,
		// however large.
		j := i
		for j < len(b.ends) && (seg.size+int64(b.ends[j]-start) <= s.opts.SegmentBytes || (j == i && seg.size == 0)) {
			j++
		}
		if j == i {
			if err := s.rotate(svc); err != nil {
				return err
			}
			continue
		}
		chunk := b.buf[start:b.ends[j-1]]
		if _, err := svc.f.Write(chunk); err != nil {
			// A partial write would leave garbage that every later record
			// sits behind: cut it off and start a new segment next time.
			_ = svc.f.Truncate(seg.size)
			_ = s.seal(svc)
			return err
		}
		seg.size += int64(len(chunk))
		for _, t := range b.times[i:j] {
			if seg.lines == 0 {
				seg.min, seg.max = t, t
			}
			seg.min, seg.max = min(seg.min, t), max(seg.max, t)
			seg.lines++
		}
		svc.dirty = true
		i = j
		if seg.size >= s.opts.SegmentBytes {
			if err := s.rotate(svc); err != nil {
				return err
			}
		}
	}
	return nil
}

// wake tells followers of the service that lines were appended.
func (svc *service) wake() {
	close(svc.notify)
	svc.notify = make(chan struct{})
}

func (s *Store) newSegment(svc *service) error {
	if !svc.made {
		if err := os.MkdirAll(svc.dir, 0o700); err != nil {
			return err
		}
		// Make the new directories durable once, here, so the periodic
		// fsync only ever has the service directory to sync.
		for d := svc.dir; d != s.opts.Dir && d != filepath.Dir(d); d = filepath.Dir(d) {
			_ = syncDir(filepath.Dir(d))
		}
		svc.made = true
	}
	svc.seq++
	seg := &segment{seq: svc.seq, path: filepath.Join(svc.dir, fmt.Sprintf("%016x.seg", svc.seq))}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	svc.segs = append(svc.segs, seg)
	svc.f = f
	svc.dirDir = true
	return nil
}

// rotate seals the active segment and applies retention. s.mu is held.
func (s *Store) rotate(svc *service) error {
	if err := s.seal(svc); err != nil {
		return err
	}
	return s.retain(svc, s.opts.Now().UnixNano())
}

// seal ends the active segment, if any. s.mu is held.
func (s *Store) seal(svc *service) error {
	if svc.f == nil {
		return nil
	}
	f := svc.f
	svc.f = nil
	seg := svc.segs[len(svc.segs)-1]
	return s.sealFile(svc, seg, f)
}

// sealFile fsyncs and closes f (when not nil), then gives the segment its
// sealed name, or removes it when empty. The fsync comes first so that a
// sealed name never describes lines that are not on disk.
func (s *Store) sealFile(svc *service, seg *segment, f *os.File) error {
	var err error
	if f != nil {
		err = errors.Join(f.Sync(), f.Close())
	}
	if seg.lines == 0 {
		s.drop(svc, seg)
		return err
	}
	name := fmt.Sprintf("%016x_%d_%d_%d.seg", seg.seq, seg.min, seg.max, seg.lines)
	path := filepath.Join(svc.dir, name)
	if rerr := os.Rename(seg.path, path); rerr != nil {
		return errors.Join(err, rerr)
	}
	seg.path, seg.sealed = path, true
	svc.dirDir = true
	return err
}

// drop deletes a segment. Readers that have it open keep reading it.
func (s *Store) drop(svc *service, seg *segment) {
	if err := os.Remove(seg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.noteErr(err)
	}
	seg.deleted = true
	svc.segs = slices.DeleteFunc(svc.segs, func(x *segment) bool { return x == seg })
	svc.dirDir = true
}

// retain applies MaxAge and MaxBytesPerService to a service. s.mu is held.
func (s *Store) retain(svc *service, now int64) error {
	cutoff := now - int64(s.opts.MaxAge)
	if svc.f != nil {
		if act := svc.segs[len(svc.segs)-1]; act.lines > 0 && act.max < cutoff {
			if err := s.seal(svc); err != nil {
				return err
			}
		}
	}
	// Segments are not strictly in time order, so look at each.
	for _, seg := range slices.Clone(svc.segs) {
		if seg.sealed && seg.max < cutoff {
			s.drop(svc, seg)
		}
	}
	var total int64
	for _, seg := range svc.segs {
		total += seg.size
	}
	for total > s.opts.MaxBytesPerService && len(svc.segs) > 0 && svc.segs[0].sealed {
		total -= svc.segs[0].size
		s.drop(svc, svc.segs[0])
	}
	return nil
}

// background fsyncs written segments every syncInterval and applies
// retention to every service every retainInterval.
func (s *Store) background() {
	defer close(s.bgDone)
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	lastRetain := time.Now()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.syncDirty()
		if time.Since(lastRetain) >= retainInterval {
			lastRetain = time.Now()
			s.retainAll()
		}
	}
}

// syncDirty is the group commit: one fsync per written segment per tick,
// taken without the lock so appends continue meanwhile.
func (s *Store) syncDirty() {
	var files []*os.File
	var dirs []string
	s.mu.Lock()
	for _, svc := range s.services {
		if svc.dirty && svc.f != nil {
			files = append(files, svc.f)
		}
		if svc.dirDir {
			dirs = append(dirs, svc.dir)
		}
		svc.dirty, svc.dirDir = false, false
	}
	s.mu.Unlock()
	for _, f := range files {
		// A file sealed meanwhile was fsynced by seal.
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			s.noteErr(err)
		}
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			s.noteErr(err)
		}
	}
}

func (s *Store) retainAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now().UnixNano()
	for _, svc := range s.services {
		if err := s.retain(svc, now); err != nil {
			s.syncErr = firstErr(s.syncErr, err)
		}
	}
}

func (s *Store) noteErr(err error) {
	s.mu.Lock()
	s.syncErr = firstErr(s.syncErr, err)
	s.mu.Unlock()
}

// firstErr keeps the first error.
func firstErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

// Sync makes every line Append has returned for durable now.
func (s *Store) Sync() error {
	var files []*os.File
	var dirs []string
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	for _, svc := range s.services {
		if svc.f != nil {
			files = append(files, svc.f)
		}
		if svc.made {
			dirs = append(dirs, svc.dir)
		}
	}
	err := s.syncErr
	s.mu.Unlock()
	for _, f := range files {
		if e := f.Sync(); e != nil && !errors.Is(e, os.ErrClosed) {
			err = firstErr(err, e)
		}
	}
	for _, d := range dirs {
		err = firstErr(err, syncDir(d))
	}
	return err
}

// Close seals every segment (fsync, close, rename) and ends followers.
// Every line Append returned for is on disk when it returns.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	<-s.bgDone

	s.mu.Lock()
	defer s.mu.Unlock()
	errs := []error{s.syncErr}
	for _, svc := range s.services {
		errs = append(errs, s.seal(svc))
		if svc.made {
			errs = append(errs, syncDir(svc.dir))
		}
	}
	return errors.Join(errs...)
}

// Stats describes what the store holds.
type Stats struct {
	Services []ServiceStats
	// Totals over all services.
	Bytes    int64
	Segments int
	Lines    int64
}

// ServiceStats describes one service's stored logs.
type ServiceStats struct {
	Env, App, Service string
	Bytes             int64 // on disk, in whole records
	Segments          int
	Lines             int64
	Oldest, Newest    time.Time // zero without lines
}

// Stats returns bytes, segments and lines per service, sorted by app, env
// and service.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st Stats
	for _, svc := range s.services {
		ss := ServiceStats{Env: svc.key.env, App: svc.key.app, Service: svc.key.service}
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, seg := range svc.segs {
			ss.Bytes += seg.size
			ss.Segments++
			ss.Lines += seg.lines
			if seg.lines > 0 {
				lo, hi = min(lo, seg.min), max(hi, seg.max)
			}
		}
		if ss.Lines > 0 {
			ss.Oldest, ss.Newest = unixTime(lo), unixTime(hi)
		}
		if ss.Segments == 0 {
			continue
		}
		st.Services = append(st.Services, ss)
		st.Bytes += ss.Bytes
		st.Segments += ss.Segments
		st.Lines += ss.Lines
	}
	slices.SortFunc(st.Services, func(a, b ServiceStats) int {
		return strings.Compare(a.App+"\x00"+a.Env+"\x00"+a.Service, b.App+"\x00"+b.Env+"\x00"+b.Service)
	})
	return st
}

// parseSegmentName reads <seq>.seg (active) or <seq>_<min>_<max>_<lines>.seg
// (sealed).
func parseSegmentName(name string) (*segment, bool) {
	parts := strings.Split(strings.TrimSuffix(name, ".seg"), "_")
	seq, err := strconv.ParseUint(parts[0], 16, 64)
	if err != nil {
		return nil, false
	}
	seg := &segment{seq: seq}
	switch len(parts) {
	case 1:
		return seg, true
	case 4:
		lo, err1 := strconv.ParseInt(parts[1], 10, 64)
		hi, err2 := strconv.ParseInt(parts[2], 10, 64)
		n, err3 := strconv.ParseInt(parts[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, false
		}
		seg.min, seg.max, seg.lines, seg.sealed = lo, hi, n, true
		return seg, true
	}
	return nil, false
}

// escapeName makes a name safe as one path element: bytes other than
// letters, digits, '-' and '_' become %XX (so ".", ".." and "a/b" cannot
// escape the directory).
func escapeName(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

func unescapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns) }
