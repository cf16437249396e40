package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Errors returned by Append and Query. Each refused sample is also counted
// in StoreStats, so a collector may ignore them one by one and still be seen.
var (
	// ErrInvalid: an empty or oversized name or label set, a NUL byte, or a NaN value.
	ErrInvalid = errors.New("metrics: invalid sample")
	// ErrTooManySeries: the sample would start a series beyond MaxSeries.
	ErrTooManySeries = errors.New("metrics: too many series")
	// ErrOutOfOrder: the sample falls in a bucket older than the series' newest.
	ErrOutOfOrder = errors.New("metrics: sample out of order")
	// ErrOutOfRange: the sample is older than every tier's retention or more
	// than MaxFuture ahead of the clock.
	ErrOutOfRange = errors.New("metrics: sample out of range")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("metrics: store closed")
)

// Limits on a series' identity; they make the memory and disk bounds real
// (a label value of a megabyte would otherwise be stored per series).
const (
	// MaxKeyBytes bounds a series' name plus labels (each label costs
	// len(k)+len(v)+2 bytes).
	MaxKeyBytes = 1024
	// MaxLabels bounds the number of labels of one series.
	MaxLabels = 32
	// MaxFuture is how far ahead of the clock a sample may be stamped.
	MaxFuture = time.Minute
)

// Defaults applied by Open to zero fields of Options.
const (
	DefaultMaxSeries        = 5000
	DefaultSnapshotInterval = 30 * time.Second
)

// DefaultTiers keeps 2 s resolution for an hour and 1 min averages for a week.
var DefaultTiers = []Tier{{Step: 2 * time.Second, Retention: time.Hour}, {Step: time.Minute, Retention: 7 * 24 * time.Hour}}

// Labels identify a series beside its name, e.g.
// {"env":"prod","app":"mall","service":"api","instance":"ab12"}.
type Labels map[string]string

// Sample is one value at one time. In query results Time is the start of
// the bucket and Value the average of the samples appended into it.
type Sample struct {
	Time  time.Time
	Value float64
}

// Series is a named, labelled sequence of samples, oldest first.
type Series struct {
	Name    string
	Labels  Labels
	Samples []Sample
}

// Tier is one resolution: buckets of Step, kept for Retention
// (Retention/Step slots per series).
type Tier struct {
	Step, Retention time.Duration
}

// Options configure a Store.
type Options struct {
	// Dir holds the snapshot files (tier0.snap, tier1.snap, …). Empty means
	// memory only: nothing survives Close.
	Dir string
	// Tiers, finest first; each Step must divide the next and each tier must
	// keep longer than the one before. Default DefaultTiers.
	Tiers []Tier
	// MaxSeries bounds the number of series, hence memory and disk.
	// Default DefaultMaxSeries.
	MaxSeries int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// SnapshotInterval is how often the rings are written to Dir; a kill -9
	// loses at most this much. Default DefaultSnapshotInterval; negative
	// disables the periodic snapshot (Snapshot and Close still write).
	SnapshotInterval time.Duration
	// Logger receives warnings (skipped snapshot files, failed snapshots).
	// Default slog.Default().
	Logger *slog.Logger
}

// Query selects series by name and labels and a time range.
type Query struct {
	Name string
	// Match is a subset match: every pair must be among the series' labels
	// (an empty value also matches a series without that label).
	Match Labels
	// Since and Until bound the range; zero Since means as far back as kept,
	// zero Until means now.
	Since, Until time.Time
	// Step is the resolution wanted. 0 picks the finest tier whose retention
	// covers Since. Otherwise the coarsest tier covering Since whose step is
	// at most Step is read, and its buckets are averaged into Step buckets
	// when Step is coarser still; a Step finer than every covering tier
	// gets that tier's step.
	Step time.Duration
}

// StoreStats report the store's size against its bounds.
type StoreStats struct {
	Series    int
	MaxSeries int
	// MemoryBytes estimates the memory held by series now; MaxMemoryBytes is
	// the same estimate with MaxSeries series of the largest identity and
	// every slot of every tier full: the store never holds more.
	MemoryBytes, MaxMemoryBytes int64
	// DiskBytes is the size of the snapshot files written or loaded last;
	// MaxDiskBytes bounds them the same way.
	DiskBytes, MaxDiskBytes int64
	// Samples refused, by reason, since Open.
	RefusedTooManySeries, RefusedOutOfOrder, RefusedOutOfRange, RefusedInvalid int64
	// Evicted counts series dropped to make room for new ones (silent for
	// longer than the finest tier's retention) or because their whole
	// history expired.
	Evicted int64
	// SkippedFiles counts snapshot files found corrupt or incompatible at Open.
	SkippedFiles int
	// LastSnapshot is when the last snapshot was written (zero if none).
	LastSnapshot time.Time
}

type tierInfo struct {
	Tier
	step  int64 // ns
	slots int64
}

type series struct {
	key    string
	name   string
	labels Labels
	lastT  int64 // unix ns of the newest raw sample, noBucket when none
	lastV  float64
	rings  []ring
}

// Store is an embedded time-series store with tiered retention. Every
// sample goes into every tier at once, each tier averaging it into its own
// bucket, so a coarse bucket is the true average of the raw samples in it
// (not an average of averages). Values are kept as float32 (about 7
// significant digits: plenty for gauges and rates); only the average is
// kept per bucket, not the maximum, to halve memory — alerts read the
// finest tier, where a 2 s average is all but the raw value.
//
// A Store is safe for concurrent use.
type Store struct {
	tiers     []tierInfo
	maxSeries int
	now       func() time.Time
	dir       string
	log       *slog.Logger

	mu             sync.RWMutex
	series         map[string]*series
	byName         map[string][]*series
	closed         bool
	closing        bool
	refusedMax     int64
	refusedOrder   int64
	refusedRange   int64
	refusedInvalid int64
	evicted        int64
	lastEvictScan  int64 // finest bucket of the last fruitless eviction scan
	lastSnapshot   time.Time
	diskBytes      int64
	skippedFiles   int
	maxRetention   int64
	snapMu         sync.Mutex // one snapshot at a time
	stop           chan struct{}
	done           chan struct{}
}

// Open creates the store, loading the snapshot files in opts.Dir. A
// corrupt, truncated or incompatible file (another version, other tiers) is
// logged, counted in StoreStats.SkippedFiles and skipped: its tier starts
// empty and the next snapshot replaces it. Open fails only on bad options
// or an unusable directory.
func Open(opts Options) (*Store, error) {
	if opts.Tiers == nil {
		opts.Tiers = DefaultTiers
	}
	if opts.MaxSeries == 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = DefaultSnapshotInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxSeries < 0 {
		return nil, fmt.Errorf("metrics: MaxSeries %d: must be positive", opts.MaxSeries)
	}
	if len(opts.Tiers) == 0 || len(opts.Tiers) > 8 {
		return nil, fmt.Errorf("metrics: %d tiers: want 1 to 8", len(opts.Tiers))
	}
	s := &Store{
		maxSeries:     opts.MaxSeries,
		now:           opts.Now,
		dir:           opts.Dir,
		log:           opts.Logger,
		series:        map[string]*series{},
		byName:        map[string][]*series{},
		lastEvictScan: noBucket,
	}
	for i, t := range opts.Tiers {
		if t.Step <= 0 || t.Retention < t.Step || t.Retention%t.Step != 0 {
			return nil, fmt.Errorf("metrics: tier %d (step %v, retention %v): retention must be a positive multiple of step", i, t.Step, t.Retention)
		}
		if t.Retention/t.Step > 1<<24 {
			return nil, fmt.Errorf("metrics: tier %d: %d slots per series is too many (max %d)", i, t.Retention/t.Step, 1<<24)
		}
		if i > 0 {
			p := opts.Tiers[i-1]
			if t.Step <= p.Step || t.Step%p.Step != 0 || t.Retention <= p.Retention {
				return nil, fmt.Errorf("metrics: tier %d (step %v, retention %v): must be coarser than tier %d (step %v, retention %v), its step a multiple", i, t.Step, t.Retention, i-1, p.Step, p.Retention)
			}
		}
		s.tiers = append(s.tiers, tierInfo{Tier: t, step: int64(t.Step), slots: int64(t.Retention / t.Step)})
	}
	s.maxRetention = int64(s.tiers[len(s.tiers)-1].Retention)
	if s.dir != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
		if opts.SnapshotInterval > 0 {
			s.stop = make(chan struct{})
			s.done = make(chan struct{})
			go s.loop(opts.SnapshotInterval)
		}
	}
	return s, nil
}

// loop writes a snapshot every interval of real time (not the store's
// clock: snapshots protect against real crashes).
func (s *Store) loop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.Snapshot(); err != nil {
				s.log.Warn("metrics snapshot failed", "dir", s.dir, "err", err)
			}
		}
	}
}

// Close stops the periodic snapshot and writes a last one. The store
// refuses every call afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closing = true // a second Close must not close s.stop again
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	var err error
	if s.dir != "" {
		err = s.Snapshot()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}

// floorDiv divides rounding toward minus infinity, so buckets before 1970
// (only in tests) are numbered like the others.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// appendKey writes the series' identity — name, then labels sorted by key,
// NUL-separated — into buf. It refuses what the bounds exclude.
func appendKey(buf []byte, name string, labels Labels) ([]byte, bool) {
	if name == "" || len(labels) > MaxLabels || strings.IndexByte(name, 0) >= 0 {
		return buf, false
	}
	var arr [MaxLabels]string
	keys := arr[:0]
	size := len(name)
	for k, v := range labels {
		if k == "" || strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return buf, false
		}
		size += len(k) + len(v) + 2
		keys = append(keys, k)
	}
	if size > MaxKeyBytes {
		return buf, false
	}
	// Insertion sort: a handful of keys, and no allocation.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	buf = append(buf, name...)
	for _, k := range keys {
		buf = append(buf, 0)
		buf = append(buf, k...)
		buf = append(buf, 0)
		buf = append(buf, labels[k]...)
	}
	return buf, true
}

// Append adds a gauge sample to the series name+labels, creating the series
// if needed. Rates are the caller's business: the store averages values.
func (s *Store) Append(name string, labels Labels, t time.Time, v float64) error {
	var kb [256]byte
	key, ok := appendKey(kb[:0], name, labels)
	if !ok || math.IsNaN(v) {
		s.mu.Lock()
		s.refusedInvalid++
		s.mu.Unlock()
		return fmt.Errorf("%w: %s%v = %v", ErrInvalid, name, labels, v)
	}
	ts := t.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := s.now().UnixNano()
	if ts <= now-s.maxRetention || ts > now+int64(MaxFuture) {
		s.refusedRange++
		return fmt.Errorf("%w: %s at %v (now %v)", ErrOutOfRange, name, t, time.Unix(0, now))
	}
	sr := s.series[string(key)] // no allocation for the lookup
	if sr == nil {
		if len(s.series) >= s.maxSeries && !s.evictOne(now) {
			s.refusedMax++
			return fmt.Errorf("%w: %d series (MaxSeries) reached; %s%v not stored", ErrTooManySeries, s.maxSeries, name, labels)
		}
		sr = s.newSeries(string(key), name, labels)
	}
	accepted := false
	for i := range s.tiers {
		ti := &s.tiers[i]
		b := floorDiv(ts, ti.step)
		if b <= floorDiv(now, ti.step)-ti.slots {
			continue // already past this tier's retention; coarser tiers take it
		}
		if sr.rings[i].add(ti.slots, b, v) {
			accepted = true
		}
	}
	if !accepted {
		s.refusedOrder++
		return fmt.Errorf("%w: %s%v at %v", ErrOutOfOrder, name, labels, t)
	}
	if ts >= sr.lastT {
		sr.lastT, sr.lastV = ts, v
	}
	return nil
}

// newSeries registers a series; the caller holds s.mu and checked MaxSeries.
func (s *Store) newSeries(key, name string, labels Labels) *series {
	cp := make(Labels, len(labels))
	for k, v := range labels {
		cp[k] = v
	}
	sr := &series{key: key, name: key[:len(name)], labels: cp, lastT: noBucket, rings: make([]ring, len(s.tiers))}
	for i, ti := range s.tiers {
		sr.rings[i] = newRing(ti.slots)
	}
	s.series[key] = sr
	s.byName[sr.name] = append(s.byName[sr.name], sr)
	return sr
}

func (s *Store) deleteSeries(sr *series) {
	delete(s.series, sr.key)
	list := s.byName[sr.name]
	for i, x := range list {
		if x == sr {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(s.byName, sr.name)
	} else {
		s.byName[sr.name] = list
	}
	s.evicted++
}

// evictOne makes room for a new series by dropping the one silent the
// longest, provided it has been silent longer than the finest tier keeps:
// replaced instances get new series on every deploy, and recording the
// live ones matters more than the week-old history of dead ones. A scan
// that finds nothing is not repeated within the same finest bucket, so a
// flood of new series costs one scan per step, not one per sample.
func (s *Store) evictOne(now int64) bool {
	t0 := s.tiers[0]
	nb := floorDiv(now, t0.step)
	if s.lastEvictScan == nb {
		return false
	}
	var oldest *series
	for _, sr := range s.series {
		if oldest == nil || sr.lastT < oldest.lastT {
			oldest = sr
		}
	}
	if oldest == nil || oldest.lastT > now-int64(t0.Retention) {
		s.lastEvictScan = nb
		return false
	}
	s.deleteSeries(oldest)
	return true
}

// sweep frees the pages whose buckets left their tier's retention, and
// drops series with nothing left in any tier. The caller holds s.mu.
func (s *Store) sweep(now int64) {
	for _, sr := range s.series {
		empty := true
		for i := range s.tiers {
			ti := &s.tiers[i]
			sr.rings[i].expire(ti.slots, floorDiv(now, ti.step))
			if sr.rings[i].allocated() > 0 {
				empty = false
			}
		}
		if empty && sr.lastT <= now-s.maxRetention {
			s.deleteSeries(sr)
		}
	}
}

func (l Labels) matches(m Labels) bool {
	for k, v := range m {
		if l[k] != v {
			return false
		}
	}
	return true
}

// matching returns the series of name whose labels include match, sorted
// by identity so results are stable. The caller holds s.mu.
func (s *Store) matching(name string, match Labels) []*series {
	var out []*series
	for _, sr := range s.byName[name] {
		if sr.labels.matches(match) {
			out = append(out, sr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func (sr *series) public() Series {
	l := make(Labels, len(sr.labels))
	for k, v := range sr.labels {
		l[k] = v
	}
	return Series{Name: sr.name, Labels: l}
}

// pickTier chooses the tier for a query starting at since (see Query.Step).
func (s *Store) pickTier(now, since int64, step time.Duration) int {
	first := len(s.tiers) - 1 // finest tier covering since; the coarsest if none does
	for i, ti := range s.tiers {
		if since >= now-int64(ti.Retention) {
			first = i
			break
		}
	}
	if step <= 0 {
		return first
	}
	pick := first
	for i := first; i < len(s.tiers); i++ {
		if s.tiers[i].Step <= step {
			pick = i
		}
	}
	return pick
}

// Query returns the samples of every series matching q, one Series per
// series that has samples in the range, sorted by labels.
func (s *Store) Query(q Query) ([]Series, error) {
	if q.Name == "" {
		return nil, fmt.Errorf("%w: query without a name", ErrInvalid)
	}
	if q.Step < 0 {
		return nil, fmt.Errorf("%w: negative step %v", ErrInvalid, q.Step)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	now := s.now().UnixNano()
	since, until := now-s.maxRetention, now
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	if until < since {
		return nil, fmt.Errorf("%w: until %v before since %v", ErrInvalid, q.Until, q.Since)
	}
	tier := s.pickTier(now, since, q.Step)
	ti := s.tiers[tier]
	step := ti.step
	if int64(q.Step) > step {
		step = int64(q.Step)
	}
	nowB := floorDiv(now, ti.step)
	// A bucket is in range when it overlaps [since, until].
	lo := floorDiv(since, ti.step)
	hi := floorDiv(until, ti.step)
	var out []Series
	for _, sr := range s.matching(q.Name, q.Match) {
		r := &sr.rings[tier]
		if r.head == noBucket {
			continue
		}
		first := max(lo, max(r.head, nowB)-ti.slots+1)
		last := min(hi, r.head)
		var samples []Sample
		// Re-bucketing to a coarser Step averages the tier's buckets in each
		// Step bucket (aligned to multiples of Step since the epoch).
		cur, sum, n := int64(noBucket), 0.0, 0
		flush := func() {
			if n > 0 {
				samples = append(samples, Sample{Time: time.Unix(0, cur*step).UTC(), Value: sum / float64(n)})
			}
		}
		for b := first; b <= last; b++ {
			v := r.get(ti.slots, b)
			if isNaN32(v) {
				continue
			}
			ob := floorDiv(b*ti.step, step)
			if ob != cur {
				flush()
				cur, sum, n = ob, 0, 0
			}
			sum += float64(v)
			n++
		}
		flush()
		if len(samples) == 0 {
			continue
		}
		ps := sr.public()
		ps.Samples = samples
		out = append(out, ps)
	}
	return out, nil
}

// Latest returns, for every series of name whose labels include match, its
// newest raw sample (not a bucket average). A series that went silent is
// still returned, with its last sample's time, until its history expires.
func (s *Store) Latest(name string, match Labels) ([]Series, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Series
	for _, sr := range s.matching(name, match) {
		if sr.lastT == noBucket {
			continue
		}
		ps := sr.public()
		ps.Samples = []Sample{{Time: time.Unix(0, sr.lastT).UTC(), Value: sr.lastV}}
		out = append(out, ps)
	}
	return out, nil
}

// Names returns the metric names with at least one series, sorted.
func (s *Store) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// seriesOverhead estimates a series' fixed cost beyond its key and labels:
// the struct, its map entries in s.series and s.byName, the rings slice.
const seriesOverhead = 160

// labelOverhead estimates one label's map entry beyond its bytes.
const labelOverhead = 48

func (s *Store) seriesBytes(sr *series) int64 {
	b := int64(seriesOverhead) + int64(len(sr.key)) + int64(len(sr.labels))*labelOverhead
	for k, v := range sr.labels {
		b += int64(len(k) + len(v))
	}
	for i := range sr.rings {
		b += sr.rings[i].bytes()
	}
	return b
}

// maxSeriesBytes is seriesBytes for the largest identity with every slot full.
func (s *Store) maxSeriesBytes() int64 {
	b := int64(seriesOverhead) + 2*MaxKeyBytes + MaxLabels*labelOverhead
	for _, ti := range s.tiers {
		pages := (ti.slots + pageSize - 1) / pageSize
		b += ringOverhead + pages*8 + pages*pageOverhead + ti.slots*4
	}
	return b
}

// Stats reports the store's size and its bounds.
func (s *Store) Stats() StoreStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := StoreStats{
		Series:               len(s.series),
		MaxSeries:            s.maxSeries,
		MaxMemoryBytes:       int64(s.maxSeries) * s.maxSeriesBytes(),
		DiskBytes:            s.diskBytes,
		RefusedTooManySeries: s.refusedMax,
		RefusedOutOfOrder:    s.refusedOrder,
		RefusedOutOfRange:    s.refusedRange,
		RefusedInvalid:       s.refusedInvalid,
		Evicted:              s.evicted,
		SkippedFiles:         s.skippedFiles,
		LastSnapshot:         s.lastSnapshot,
	}
	for _, ti := range s.tiers {
		st.MaxDiskBytes += maxFileBytes(ti, s.maxSeries)
	}
	for _, sr := range s.series {
		st.MemoryBytes += s.seriesBytes(sr)
	}
	return st
}
