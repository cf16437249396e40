package metrics

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// t0 is minute-aligned, so 2 s and 1 min buckets start on it.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t testing.TB, o Options) (*Store, *clock) {
	t.Helper()
	c := &clock{t: t0}
	if o.Now == nil {
		o.Now = c.Now
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = -1 // tests snapshot by hand
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func mustAppend(t testing.TB, s *Store, name string, l Labels, ts time.Time, v float64) {
	t.Helper()
	if err := s.Append(name, l, ts, v); err != nil {
		t.Fatal(err)
	}
}

func query(t testing.TB, s *Store, q Query) []Series {
	t.Helper()
	out, err := s.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendQueryAcrossTiers(t *testing.T) {
	s, c := open(t, Options{})
	l := Labels{"env": "prod", "app": "mall", "service": "api", "instance": "ab12"}
	// Two hours of a sample every 2 s; within each minute the values are
	// 0..29, so every minute averages 14.5.
	var end time.Time
	for i := range 3600 {
		ts := t0.Add(time.Duration(i) * 2 * time.Second)
		c.Set(ts)
		mustAppend(t, s, "cpu", l, ts, float64(i%30))
		end = ts
	}
	now := end

	// 15 min: the 2 s tier, raw values.
	got := query(t, s, Query{Name: "cpu", Since: now.Add(-15 * time.Minute)})
	if len(got) != 1 || !reflect.DeepEqual(got[0].Labels, l) || got[0].Name != "cpu" {
		t.Fatalf("got %+v", got)
	}
	sm := got[0].Samples
	if len(sm) != 451 { // 15 min of 2 s buckets, both ends included
		t.Fatalf("15m: %d samples, want 451", len(sm))
	}
	for i, x := range sm {
		want := now.Add(-15 * time.Minute).Add(time.Duration(i) * 2 * time.Second)
		if !x.Time.Equal(want) || x.Value != float64((3600-451+i)%30) {
			t.Fatalf("15m sample %d = %+v, want %v at %v", i, x, float64((3600-451+i)%30), want)
		}
	}

	// 2 h: past the hour the 2 s tier keeps, so 1 min averages.
	sm = query(t, s, Query{Name: "cpu", Since: t0})[0].Samples
	if len(sm) != 120 {
		t.Fatalf("2h: %d samples, want 120", len(sm))
	}
	for i, x := range sm {
		if !x.Time.Equal(t0.Add(time.Duration(i)*time.Minute)) || x.Value != 14.5 {
			t.Fatalf("2h sample %d = %+v", i, x)
		}
	}

	// Step 2s over 2 h: no tier that fine covers it, so the 1 min tier.
	sm = query(t, s, Query{Name: "cpu", Since: t0, Step: 2 * time.Second})[0].Samples
	if !sm[0].Time.Equal(t0) || len(sm) != 120 {
		t.Fatalf("step 2s since 2h: %d samples from %v", len(sm), sm[0].Time)
	}
}

func TestStepSelection(t *testing.T) {
	s, c := open(t, Options{})
	for i := range 1800 { // one hour at 2 s, values 0..29 per minute
		ts := t0.Add(time.Duration(i) * 2 * time.Second)
		c.Set(ts)
		mustAppend(t, s, "m", nil, ts, float64(i%30))
	}
	now := c.Now()
	cases := []struct {
		since    time.Duration
		step     time.Duration
		n        int
		interval time.Duration
		value    float64 // of every sample, or NaN to skip
	}{
		{30 * time.Minute, 0, 901, 2 * time.Second, math.NaN()},           // finest covering
		{30 * time.Minute, time.Second, 901, 2 * time.Second, math.NaN()}, // finer than any tier
		{30 * time.Minute, 10 * time.Second, 181, 10 * time.Second, math.NaN()},
		{30 * time.Minute, time.Minute, 31, time.Minute, math.NaN()}, // served by the 1 min tier
		{30 * time.Minute, 5 * time.Minute, 7, 5 * time.Minute, 14.5},
		{2 * time.Hour, 0, 60, time.Minute, 14.5}, // 2 s tier does not cover 2 h
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("since%v-step%v", tc.since, tc.step), func(t *testing.T) {
			got := query(t, s, Query{Name: "m", Since: now.Add(-tc.since), Step: tc.step})
			sm := got[0].Samples
			if len(sm) != tc.n {
				t.Fatalf("%d samples, want %d", len(sm), tc.n)
			}
			for i := 1; i < len(sm); i++ {
				if d := sm[i].Time.Sub(sm[i-1].Time); d != tc.interval {
					t.Fatalf("interval %v, want %v", d, tc.interval)
				}
			}
			if !math.IsNaN(tc.value) {
				for _, x := range sm[:len(sm)-1] { // the newest minute is partial
					if x.Value != tc.value {
						t.Fatalf("value %v, want %v", x.Value, tc.value)
					}
				}
			}
		})
	}
	// 10 s re-bucketing of the 2 s tier averages five 2 s buckets.
	sm := query(t, s, Query{Name: "m", Since: t0, Until: t0.Add(9 * time.Second), Step: 10 * time.Second})[0].Samples
	if len(sm) != 1 || sm[0].Value != 2 || !sm[0].Time.Equal(t0) {
		t.Fatalf("10s bucket: %+v, want avg(0..4)=2 at t0", sm)
	}
}

func TestLabelSubsetMatchLatestNames(t *testing.T) {
	s, c := open(t, Options{})
	c.Set(t0.Add(time.Minute))
	add := func(name string, l Labels, v float64) { mustAppend(t, s, name, l, t0, v) }
	add("cpu", Labels{"env": "prod", "service": "api", "instance": "a"}, 1)
	add("cpu", Labels{"env": "prod", "service": "api", "instance": "b"}, 2)
	add("cpu", Labels{"env": "prod", "service": "web", "instance": "c"}, 3)
	add("cpu", Labels{"env": "dev", "service": "api", "instance": "d"}, 4)
	add("mem", Labels{"env": "prod", "service": "api", "instance": "a"}, 5)
	mustAppend(t, s, "cpu", Labels{"env": "prod", "service": "api", "instance": "a"}, t0.Add(30*time.Second), 7)

	instances := func(ss []Series) string {
		var out []string
		for _, x := range ss {
			out = append(out, x.Labels["instance"])
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		match Labels
		want  string
	}{
		{nil, "d,a,b,c"}, // sorted by identity: env=dev first
		{Labels{"env": "prod"}, "a,b,c"},
		{Labels{"env": "prod", "service": "api"}, "a,b"},
		{Labels{"service": "api"}, "d,a,b"},
		{Labels{"instance": "c"}, "c"},
		{Labels{"env": "staging"}, ""},
		{Labels{"zone": ""}, "d,a,b,c"}, // an absent label equals ""
	} {
		got := query(t, s, Query{Name: "cpu", Match: tc.match, Since: t0})
		if g := instances(got); g != tc.want {
			t.Errorf("match %v: %q, want %q", tc.match, g, tc.want)
		}
	}
	lat, err := s.Latest("cpu", Labels{"instance": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 1 || len(lat[0].Samples) != 1 || lat[0].Samples[0].Value != 7 || !lat[0].Samples[0].Time.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("latest: %+v", lat)
	}
	if lat, _ := s.Latest("cpu", Labels{"env": "prod"}); len(lat) != 3 {
		t.Fatalf("latest prod: %d series", len(lat))
	}
	if n := s.Names(); !reflect.DeepEqual(n, []string{"cpu", "mem"}) {
		t.Fatalf("names %v", n)
	}
	// Results are copies: changing them does not change the store.
	lat[0].Labels["instance"] = "zzz"
	if got := query(t, s, Query{Name: "cpu", Match: Labels{"instance": "zzz"}, Since: t0}); len(got) != 0 {
		t.Fatal("query result aliases the store's labels")
	}
}

func TestRingWraparoundAndExactRetention(t *testing.T) {
	// 1 s × 10 slots and 5 s × 12 slots.
	s, c := open(t, Options{Tiers: []Tier{{time.Second, 10 * time.Second}, {5 * time.Second, time.Minute}}})
	for i := range 26 { // three laps of the fine ring
		ts := t0.Add(time.Duration(i) * time.Second)
		c.Set(ts)
		mustAppend(t, s, "m", nil, ts, float64(i))
	}
	q := func() []Sample {
		got := query(t, s, Query{Name: "m", Since: c.Now().Add(-10 * time.Second), Step: time.Second})
		if len(got) == 0 {
			return nil
		}
		return got[0].Samples
	}
	sm := q()
	if len(sm) != 10 || sm[0].Value != 16 || sm[9].Value != 25 {
		t.Fatalf("after wraparound: %+v, want 16..25", sm)
	}
	// Sample 16 (at t0+16s) stays while it is one of the 10 newest buckets
	// and goes exactly when the clock reaches t0+26s, without any append.
	c.Set(t0.Add(25*time.Second + 999*time.Millisecond))
	if sm := q(); len(sm) != 10 || sm[0].Value != 16 {
		t.Fatalf("at retention-1ns: %+v", sm)
	}
	c.Set(t0.Add(26 * time.Second))
	if sm := q(); len(sm) != 9 || sm[0].Value != 17 {
		t.Fatalf("at retention: %+v", sm)
	}
	// The coarse tier still has the beginning: 5 s averages of 0..4 etc.
	got := query(t, s, Query{Name: "m", Since: t0})[0].Samples
	if len(got) != 6 || got[0].Value != 2 || got[5].Value != 25 {
		t.Fatalf("coarse: %+v", got)
	}
	// A minute later everything has expired; the sweep frees it and drops
	// the series.
	c.Set(t0.Add(26*time.Second + time.Minute))
	if got := query(t, s, Query{Name: "m"}); len(got) != 0 {
		t.Fatalf("expired: %+v", got)
	}
	s.mu.Lock()
	s.sweep(c.Now().UnixNano())
	s.mu.Unlock()
	if st := s.Stats(); st.Series != 0 || st.MemoryBytes != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}

func TestRefusals(t *testing.T) {
	s, c := open(t, Options{})
	c.Set(t0.Add(time.Hour))
	now := c.Now()
	mustAppend(t, s, "m", nil, now, 1)
	for _, tc := range []struct {
		name string
		l    Labels
		t    time.Time
		v    float64
		err  error
	}{
		{"m", nil, now.Add(-4 * time.Second), 1, ErrOutOfOrder},
		{"m", nil, now.Add(-8 * 24 * time.Hour), 1, ErrOutOfRange},
		{"m", nil, now.Add(2 * time.Minute), 1, ErrOutOfRange},
		{"", nil, now, 1, ErrInvalid},
		{"m", nil, now, math.NaN(), ErrInvalid},
		{"m", Labels{"a": strings.Repeat("x", MaxKeyBytes)}, now, 1, ErrInvalid},
		{"m", Labels{"a": "x\x00y"}, now, 1, ErrInvalid},
	} {
		if err := s.Append(tc.name, tc.l, tc.t, tc.v); !errors.Is(err, tc.err) {
			t.Errorf("append(%q, %v, %v): %v, want %v", tc.name, tc.t, tc.v, err, tc.err)
		}
	}
	// Two samples in the same bucket average; a sample in the same coarse
	// bucket but an older fine one is still refused everywhere.
	mustAppend(t, s, "m", nil, now.Add(time.Second), 3)
	if lat, _ := s.Latest("m", nil); lat[0].Samples[0].Value != 3 {
		t.Fatalf("latest %v", lat)
	}
	if sm := query(t, s, Query{Name: "m", Since: now})[0].Samples; sm[0].Value != 2 {
		t.Fatalf("bucket average %v, want 2", sm)
	}
	st := s.Stats()
	if st.RefusedOutOfOrder != 1 || st.RefusedOutOfRange != 2 || st.RefusedInvalid != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMaxSeries(t *testing.T) {
	s, c := open(t, Options{MaxSeries: 3})
	at := func(d time.Duration) time.Time { c.Set(t0.Add(d)); return t0.Add(d) }
	mustAppend(t, s, "m", Labels{"i": "1"}, at(0), 1)
	mustAppend(t, s, "m", Labels{"i": "2"}, at(time.Minute), 1)
	mustAppend(t, s, "m", Labels{"i": "3"}, at(time.Minute), 1)
	for range 100 {
		if err := s.Append("m", Labels{"i": "4"}, at(2*time.Minute), 1); !errors.Is(err, ErrTooManySeries) {
			t.Fatalf("4th series: %v", err)
		}
	}
	// Existing series still take samples.
	mustAppend(t, s, "m", Labels{"i": "1"}, at(2*time.Minute), 1)
	st := s.Stats()
	if st.Series != 3 || st.RefusedTooManySeries != 100 || st.Evicted != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Once series 2 has been silent for longer than the finest tier keeps,
	// a new series replaces it; the others stay.
	mustAppend(t, s, "m", Labels{"i": "1"}, at(time.Hour+2*time.Minute), 1)
	mustAppend(t, s, "m", Labels{"i": "3"}, at(time.Hour+2*time.Minute), 1)
	mustAppend(t, s, "m", Labels{"i": "4"}, at(time.Hour+2*time.Minute), 1)
	st = s.Stats()
	if st.Series != 3 || st.Evicted != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := query(t, s, Query{Name: "m", Match: Labels{"i": "2"}}); len(got) != 0 {
		t.Fatal("series 2 was not evicted")
	}
	// No silent series left: refused again.
	if err := s.Append("m", Labels{"i": "5"}, at(time.Hour+3*time.Minute), 1); !errors.Is(err, ErrTooManySeries) {
		t.Fatalf("5th series: %v", err)
	}
}

// bigLabels is an identity of nearly MaxKeyBytes with MaxLabels labels.
func bigLabels(i int) Labels {
	l := Labels{"instance": fmt.Sprint(i)}
	for j := 1; j < MaxLabels; j++ {
		l[fmt.Sprintf("k%02d", j)] = strings.Repeat("v", 24)
	}
	return l
}

func TestStatsWithinBounds(t *testing.T) {
	tiers := []Tier{{time.Second, 5 * time.Minute}, {10 * time.Second, time.Hour}}
	const max = 20
	s, c := open(t, Options{Dir: t.TempDir(), Tiers: tiers, MaxSeries: max})
	// Fill every slot of every tier for more series than allowed.
	for sec := 0; sec < 3600; sec++ {
		ts := t0.Add(time.Duration(sec) * time.Second)
		c.Set(ts)
		for i := range max + 5 {
			if sec < 3600-300 && sec%10 != 0 {
				continue // before the fine tier's window one sample per coarse bucket fills it
			}
			err := s.Append("metric_with_a_long_name", bigLabels(i), ts, float64(sec))
			if i >= max && !errors.Is(err, ErrTooManySeries) || i < max && err != nil {
				t.Fatalf("series %d: %v", i, err)
			}
		}
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	t.Logf("full: %+v", st)
	full := int64(max) * (300 + 360) * 4 // values alone
	if st.Series != max || st.MemoryBytes < full || st.MemoryBytes > st.MaxMemoryBytes {
		t.Fatalf("memory %d, want between %d and %d", st.MemoryBytes, full, st.MaxMemoryBytes)
	}
	if st.DiskBytes < full || st.DiskBytes > st.MaxDiskBytes {
		t.Fatalf("disk %d, want between %d and %d", st.DiskBytes, full, st.MaxDiskBytes)
	}
	var onDisk int64
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		fi, _ := e.Info()
		onDisk += fi.Size()
	}
	if onDisk != st.DiskBytes {
		t.Fatalf("files hold %d bytes, stats say %d", onDisk, st.DiskBytes)
	}
	// The bound is not wildly loose either: values are most of it.
	if st.MaxMemoryBytes > 3*full || st.MaxDiskBytes > 3*full {
		t.Fatalf("bounds %d / %d are loose against %d", st.MaxMemoryBytes, st.MaxDiskBytes, full)
	}
}

func TestDefaultBounds(t *testing.T) {
	s, _ := open(t, Options{})
	st := s.Stats()
	t.Logf("defaults: MaxSeries %d, MaxMemoryBytes %d (%.0f MB), MaxDiskBytes %d (%.0f MB)",
		st.MaxSeries, st.MaxMemoryBytes, float64(st.MaxMemoryBytes)/1e6, st.MaxDiskBytes, float64(st.MaxDiskBytes)/1e6)
	if st.MaxSeries != 5000 || st.MaxMemoryBytes > 300e6 || st.MaxDiskBytes > 300e6 {
		t.Fatalf("default bounds %+v", st)
	}
}

// TestMemoryEstimate checks the estimate against the Go heap, with full
// rings of the default tiers.
func TestMemoryEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a week")
	}
	const n = 40
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, c := open(t, Options{})
	labels := make([]Labels, n)
	for i := range labels {
		labels[i] = Labels{"env": "prod", "app": "mall", "service": "api", "instance": fmt.Sprintf("i%03d", i)}
	}
	week := 7 * 24 * time.Hour
	for d := time.Duration(0); d < week; d += time.Minute {
		ts := t0.Add(d)
		c.Set(ts)
		for i := range labels {
			mustAppend(t, s, "cpu", labels[i], ts, 1)
		}
	}
	for d := time.Duration(0); d < time.Hour; d += 2 * time.Second {
		ts := t0.Add(week + d)
		c.Set(ts)
		for i := range labels {
			mustAppend(t, s, "cpu", labels[i], ts, 1)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("estimate %d, heap %d", st.MemoryBytes, heap)
	if full := int64(n) * (1800 + 10080) * 4; st.MemoryBytes < full {
		t.Fatalf("estimate %d below the values alone %d", st.MemoryBytes, full)
	}
	if heap > st.MemoryBytes*12/10 {
		t.Fatalf("heap grew %d, estimate %d", heap, st.MemoryBytes)
	}
	runtime.KeepAlive(s)
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, c := open(t, Options{Dir: dir})
	for i := range 2000 {
		ts := t0.Add(time.Duration(i) * 2 * time.Second)
		c.Set(ts)
		for _, inst := range []string{"a", "b"} {
			mustAppend(t, s, "cpu", Labels{"instance": inst}, ts, float64(i%30)+0.5)
		}
		mustAppend(t, s, "mem", Labels{"instance": "a"}, ts, 1e9+float64(i))
	}
	// Half a minute into the newest 1 min bucket, so its running average
	// must survive the restart.
	now := c.Now()
	snap := func(s *Store) (out [][]Series) {
		for _, n := range []string{"cpu", "mem"} {
			for _, step := range []time.Duration{0, time.Minute} {
				out = append(out, query(t, s, Query{Name: n, Since: t0, Step: step}))
				out = append(out, query(t, s, Query{Name: n, Since: now.Add(-10 * time.Minute)}))
			}
			l, _ := s.Latest(n, nil)
			out = append(out, l)
		}
		return out
	}
	before := snap(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Query(Query{Name: "cpu"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after close: %v", err)
	}
	s2, err := Open(Options{Dir: dir, Now: c.Now, SnapshotInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if after := snap(s2); !reflect.DeepEqual(before, after) {
		t.Fatalf("after restart:\n%v\nwant\n%v", after, before)
	}
	if st := s2.Stats(); st.Series != 3 || st.DiskBytes == 0 || st.SkippedFiles != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The newest minute keeps averaging across the restart: its samples so
	// far plus one more.
	minute := now.Truncate(time.Minute)
	var sum, n float64
	for ts := minute; !ts.After(now); ts = ts.Add(2 * time.Second) {
		sum += float64(int(ts.Sub(t0)/(2*time.Second))%30) + 0.5
		n++
	}
	next := now.Add(2 * time.Second)
	c.Set(next)
	mustAppend(t, s2, "cpu", Labels{"instance": "a"}, next, 100)
	want := (sum + 100) / (n + 1)
	sm := query(t, s2, Query{Name: "cpu", Match: Labels{"instance": "a"}, Since: minute, Step: time.Minute})[0].Samples
	if len(sm) != 1 || math.Abs(sm[0].Value-want) > 1e-4 {
		t.Fatalf("minute after restart %+v, want %v", sm, want)
	}
}

func TestCrashLosesOnlySinceSnapshot(t *testing.T) {
	dir := t.TempDir()
	s, c := open(t, Options{Dir: dir})
	for i := range 10 {
		ts := t0.Add(time.Duration(i) * 2 * time.Second)
		c.Set(ts)
		mustAppend(t, s, "m", nil, ts, float64(i))
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		ts := t0.Add(time.Duration(i) * 2 * time.Second)
		c.Set(ts)
		mustAppend(t, s, "m", nil, ts, float64(i))
	}
	// "kill -9": s is never closed; a new store opens the same directory.
	s2, err := Open(Options{Dir: dir, Now: c.Now, SnapshotInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sm := query(t, s2, Query{Name: "m", Since: t0})[0].Samples
	if len(sm) != 10 || sm[9].Value != 9 {
		t.Fatalf("after crash: %+v, want the 10 snapshotted samples", sm)
	}
	if lat, _ := s2.Latest("m", nil); lat[0].Samples[0].Value != 9 {
		t.Fatalf("latest after crash %+v", lat)
	}
}

func TestCorruptFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	s, c := open(t, Options{Dir: dir})
	c.Set(t0.Add(time.Second))
	mustAppend(t, s, "m", nil, t0, 42)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	good0, _ := os.ReadFile(filepath.Join(dir, "tier0.snap"))
	good1, _ := os.ReadFile(filepath.Join(dir, "tier1.snap"))
	flip := append([]byte(nil), good0...)
	flip[len(flip)/2] ^= 0x40
	for _, tc := range []struct {
		name         string
		tier0, tier1 []byte
		skipped      int
		opts         Options
	}{
		{"garbage", []byte("not a snapshot at all, not even close"), good1, 1, Options{}},
		{"bit flip", flip, good1, 1, Options{}},
		{"truncated", good0[:len(good0)-7], good1, 1, Options{}},
		{"empty", []byte{}, good1, 1, Options{}},
		{"both bad", flip, good1[:40], 2, Options{}},
		{"other tiers", good0, good1, 2, Options{Tiers: []Tier{{time.Second, time.Hour}, {time.Minute, 24 * time.Hour}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, "tier0.snap"), tc.tier0, 0o600)
			os.WriteFile(filepath.Join(dir, "tier1.snap"), tc.tier1, 0o600)
			o := tc.opts
			o.Dir, o.Now, o.SnapshotInterval, o.Logger = dir, c.Now, -1, quiet
			s, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.SkippedFiles != tc.skipped {
				t.Fatalf("skipped %d, want %d", st.SkippedFiles, tc.skipped)
			}
			got := query(t, s, Query{Name: "m", Since: t0, Step: time.Minute})
			if tc.skipped == 1 && (len(got) != 1 || got[0].Samples[0].Value != 42) {
				t.Fatalf("the good tier was not loaded: %+v", got)
			}
			// A fresh snapshot replaces the bad file.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(o)
			if err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.SkippedFiles != 0 {
				t.Fatalf("still skipping after a snapshot: %+v", st)
			}
			s.Close()
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	s, c := open(t, Options{Dir: t.TempDir()})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				ts := t0.Add(time.Duration(i) * 2 * time.Second)
				if w == 0 {
					c.Set(ts)
				}
				s.Append("m", Labels{"w": fmt.Sprint(w)}, ts, 1) // some land out of order: fine
				if i%50 == 0 {
					s.Query(Query{Name: "m", Since: t0})
					s.Latest("m", nil)
					s.Stats()
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if err := s.Snapshot(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPeriodicSnapshot(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SnapshotInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, "m", nil, time.Now(), 1)
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats().LastSnapshot.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no periodic snapshot")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBadOptions(t *testing.T) {
	for _, tiers := range [][]Tier{
		{{0, time.Hour}},
		{{time.Second, 1500 * time.Millisecond}},
		{{time.Minute, time.Hour}, {time.Second, 2 * time.Hour}},
		{{2 * time.Second, time.Hour}, {3 * time.Second, 2 * time.Hour}},
		{{time.Second, time.Hour}, {time.Minute, time.Hour}},
	} {
		if _, err := Open(Options{Tiers: tiers}); err == nil {
			t.Errorf("tiers %v accepted", tiers)
		}
	}
}

// BenchmarkAppend measures one Append in the collector's pattern: 50
// instances × 10 metrics every 2 s.
func BenchmarkAppend(b *testing.B) {
	s, c := open(b, Options{})
	type key struct {
		name string
		l    Labels
	}
	var keys []key
	for i := range 50 {
		l := Labels{"env": "prod", "app": "mall", "service": fmt.Sprintf("svc%d", i%5), "instance": fmt.Sprintf("%08x", i*7919)}
		for m := range 10 {
			keys = append(keys, key{fmt.Sprintf("haven_metric_%d", m), l})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	ts := t0
	for i := 0; b.Loop(); i++ {
		if i%len(keys) == 0 {
			ts = ts.Add(2 * time.Second)
			c.Set(ts)
		}
		k := keys[i%len(keys)]
		if err := s.Append(k.name, k.l, ts, float64(i)); err != nil {
			b.Fatal(err)
		}
	}
}
