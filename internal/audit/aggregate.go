package audit

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// DefaultMaxKeys is how many distinct aggregation keys an Aggregator keeps
// per minute unless told otherwise; events beyond it are counted in one
// "others" record per action.
const DefaultMaxKeys = 256

// AggregatorOptions tunes an Aggregator; the zero value is ready to use.
type AggregatorOptions struct {
	// MaxKeys bounds the distinct keys (source, actor, …) counted per
	// minute, and so the Aggregator's memory and the records one minute
	// can add to the trail; 0 means DefaultMaxKeys.
	MaxKeys int
	// Now is the clock that puts events into minutes; nil means time.Now.
	Now func() time.Time
	// Logger receives failures to write a flushed record; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Aggregator counts events that would each deserve a record — a denied
// unauthenticated request, a failed login — and writes ONE record per key
// and minute with their count, after the minute closes. Writing a record
// costs three fsyncs; an anonymous client can send thousands of requests a
// second, and one fsynced record each would let it grow the file without
// bound and, since appends are serialized, slow every authorized call
// behind it. Counting costs a map update and never touches the disk on the
// caller's path.
//
// The key is every field of the Record except Target, UserAgent and the
// chain fields: Actor, Action, Env, Source, Result and Status. The first
// event's Target names what is counted ("unauthenticated requests"); the
// flushed record's Target says how many and in which minute, and Count
// holds the number. Keys are bounded (AggregatorOptions.MaxKeys per
// minute): once a minute has that many, further new keys are counted
// under Actor and Source "others" for their Action, Result and Status,
// which come from the program, not the client.
//
// Records are flushed by a background goroutine shortly after each minute
// closes, and all of them by Close. A flush that cannot be written is kept
// and retried at the next one, up to MaxKeys records, and the rest are
// logged and dropped: the events were refused already, so a lost count is
// a lost statistic, never an unrecorded change. Safe for concurrent use.
type Aggregator struct {
	log    *Log
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	t       tally
	pending []Record // flushed but not yet written
	closed  bool

	stop chan struct{}
	done chan struct{}
}

// NewAggregator returns an Aggregator writing to l and starts its flusher;
// Close it before closing l.
func NewAggregator(l *Log, o AggregatorOptions) *Aggregator {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &Aggregator{log: l, logger: o.Logger, now: o.Now, t: newTally(o.MaxKeys),
		stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

// Add counts one event. Its Actor, Action and Result must be set, as for
// Append. It never blocks on the disk. On a nil Aggregator it does nothing.
func (a *Aggregator) Add(r Record) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.t.add(r, a.now())
	}
}

// Allow reports whether the event named by key may still have a record of
// its own this minute: true for its first perMinute calls each minute, and
// while fewer than MaxKeys keys were asked about this minute. Callers that
// record known actors individually use it to bound them, and Add the
// events it refuses. A nil Aggregator allows everything.
func (a *Aggregator) Allow(key string, perMinute int) bool {
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.closed && a.t.allow(key, perMinute, a.now())
}

// Close writes every count, the current minute's included, and stops the
// flusher. Later Adds are ignored.
func (a *Aggregator) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.stop)
	<-a.done
	err := a.flush(time.Time{}) // the zero time: every minute is closed
	if err != nil {
		var events uint64
		for _, r := range a.pending {
			events += r.Count
		}
		a.logger.Error("audit: aggregated records lost at close: the trail cannot be written", "records", len(a.pending), "events", events, "err", err)
	}
	return err
}

func (a *Aggregator) run() {
	defer close(a.done)
	for {
		now := a.now()
		// Just after the next minute starts, so that its events are not
		// mistaken for the closing minute's by a clock a little behind.
		wait := now.Truncate(time.Minute).Add(time.Minute + 500*time.Millisecond).Sub(now)
		timer := time.NewTimer(wait)
		select {
		case <-a.stop:
			timer.Stop()
			return
		case <-timer.C:
			_ = a.flush(a.now())
		}
	}
}

// flush writes the records of the minutes before now's (every minute when
// now is zero), plus what an earlier flush could not write.
func (a *Aggregator) flush(now time.Time) error {
	a.mu.Lock()
	recs := append(a.pending, a.t.closed(now)...)
	a.pending = nil
	a.mu.Unlock()
	var firstErr error
	for i, r := range recs {
		if _, err := a.log.Append(r); err != nil {
			firstErr = err
			a.keep(recs[i:])
			break
		}
	}
	return firstErr
}

// keep saves records a flush could not write for the next one, bounded.
func (a *Aggregator) keep(recs []Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	limit := a.t.max
	if over := len(a.pending) + len(recs) - limit; over > 0 {
		lost := recs[len(recs)-min(over, len(recs)):]
		recs = recs[:len(recs)-len(lost)]
		var events uint64
		for _, r := range lost {
			events += r.Count
		}
		a.logger.Error("audit: aggregated records dropped: the trail cannot be written", "records", len(lost), "events", events)
	}
	a.pending = append(a.pending, recs...)
}

// tally is the Aggregator's pure state: counts per key and minute, and the
// per-minute budgets of Allow.
type tally struct {
	max     int
	buckets map[aggKey]*bucket
	keys    map[int64]int // distinct non-overflow keys per minute
	budgets map[budgetKey]int
	asked   map[int64]int // distinct budget keys per minute
}

type aggKey struct {
	minute                             int64 // Unix minutes
	actor, action, env, source, result string
	status                             int
}

type bucket struct {
	target string
	n      uint64
}

type budgetKey struct {
	minute int64
	key    string
}

func newTally(max int) tally {
	return tally{max: max, buckets: map[aggKey]*bucket{}, keys: map[int64]int{},
		budgets: map[budgetKey]int{}, asked: map[int64]int{}}
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

func (t *tally) add(r Record, at time.Time) {
	lim := fieldLimits
	k := aggKey{minute: unixMinute(at), actor: bound(r.Actor, lim.actor), action: bound(r.Action, lim.action),
		env: bound(r.Env, lim.env), source: bound(r.Source, lim.source), result: bound(r.Result, lim.result), status: r.Status}
	target := r.Target
	if _, ok := t.buckets[k]; !ok {
		if t.keys[k.minute] >= t.max {
			k.actor, k.source, k.env = "others", "others", ""
			target = fmt.Sprintf("%s from other sources (over %d distinct a minute)", r.Target, t.max)
		} else {
			t.keys[k.minute]++
		}
	}
	b := t.buckets[k]
	if b == nil {
		b = &bucket{target: bound(target, lim.target)}
		t.buckets[k] = b
	}
	b.n++
}

func (t *tally) allow(key string, perMinute int, at time.Time) bool {
	k := budgetKey{unixMinute(at), key}
	n, ok := t.budgets[k]
	if !ok {
		if t.asked[k.minute] >= t.max {
			return false
		}
		t.asked[k.minute]++
	}
	if n >= perMinute {
		return false
	}
	t.budgets[k] = n + 1
	return true
}

// closed removes and returns the records of every minute before now's
// (all of them when now is zero), oldest minute first and in a fixed
// order within a minute.
func (t *tally) closed(now time.Time) []Record {
	cut := unixMinute(now)
	var out []Record
	var keys []aggKey
	for k := range t.buckets {
		if now.IsZero() || k.minute < cut {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b aggKey) int {
		return cmp.Or(cmp.Compare(a.minute, b.minute), cmp.Compare(a.action, b.action), cmp.Compare(a.source, b.source),
			cmp.Compare(a.actor, b.actor), cmp.Compare(a.env, b.env), cmp.Compare(a.result, b.result), cmp.Compare(a.status, b.status))
	})
	for _, k := range keys {
		b := t.buckets[k]
		delete(t.buckets, k)
		m := time.Unix(k.minute*60, 0).UTC()
		out = append(out, Record{Actor: k.actor, Action: k.action, Env: k.env, Source: k.source, Result: k.result, Status: k.status,
			Count:  b.n,
			Target: fmt.Sprintf("%d %s in the minute %s–%s UTC", b.n, b.target, m.Format("2006-01-02 15:04"), m.Add(time.Minute).Format("15:04"))})
	}
	for m := range t.keys {
		if now.IsZero() || m < cut {
			delete(t.keys, m)
		}
	}
	for k := range t.budgets {
		if now.IsZero() || k.minute < cut {
			delete(t.budgets, k)
		}
	}
	for m := range t.asked {
		if now.IsZero() || m < cut {
			delete(t.asked, m)
		}
	}
	return out
}
