package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Now == nil {
		// Line times are around t0; a real clock would expire them by age.
		opts.Now = func() time.Time { return t0.Add(time.Hour) }
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func line(inst string, at time.Duration, text string) Line {
	return Line{Time: t0.Add(at), Env: "prod", App: "shop", Service: "web", Instance: inst, Stream: "stdout", Text: text}
}

func query(t *testing.T, s *Store, q Query) []Line {
	t.Helper()
	q.Env, q.App = cmpOr(q.Env, "prod"), cmpOr(q.App, "shop")
	q.Service = cmpOr(q.Service, "web")
	var out []Line
	if err := s.Query(context.Background(), q, func(l Line) error { out = append(out, l); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func texts(lines []Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

func mustAppend(t *testing.T, s *Store, lines ...Line) {
	t.Helper()
	if err := s.Append(lines...); err != nil {
		t.Fatal(err)
	}
}

func TestMergeInstancesInTimeOrder(t *testing.T) {
	s := open(t, Options{SegmentBytes: 100}) // several segments, overlapping in time
	// Each instance's batch arrives after later lines of the other.
	mustAppend(t, s, line("a", 0, "a0"), line("a", 2*time.Second, "a2"), line("a", 4*time.Second, "a4"))
	mustAppend(t, s, line("b", time.Second, "b1"), line("b", 3*time.Second, "b3"), line("b", 5*time.Second, "b5"))
	mustAppend(t, s, line("a", 6*time.Second, "a6"), line("c", 6*time.Second, "c6"))
	got := texts(query(t, s, Query{}))
	want := []string{"a0", "b1", "a2", "b3", "a4", "b5", "a6", "c6"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := s.Stats(); st.Segments < 3 {
		t.Fatalf("want several segments, got %+v", st)
	}
	l := query(t, s, Query{Instance: "b"})[0]
	if l.Env != "prod" || l.App != "shop" || l.Service != "web" || l.Instance != "b" || l.Stream != "stdout" || !l.Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("line = %+v", l)
	}
	// Other services are apart.
	other := line("x", 0, "other")
	other.Service = "worker"
	mustAppend(t, s, other)
	if got := texts(query(t, s, Query{Service: "worker"})); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("worker: %v", got)
	}
	if got := query(t, s, Query{Service: "nothing"}); len(got) != 0 {
		t.Fatalf("unknown service: %v", got)
	}
}

func TestFilters(t *testing.T) {
	for _, segBytes := range []int64{0, 200} {
		t.Run(fmt.Sprint("segment=", segBytes), func(t *testing.T) {
			s := open(t, Options{SegmentBytes: segBytes})
			var lines []Line
			for i := range 20 {
				inst := []string{"a", "b"}[i%2]
				text := fmt.Sprintf("plain %d", i)
				if i%5 == 0 {
					text = fmt.Sprintf(`{"level":"error","msg":"boom %d","n":%d,"ok":false,"nested":{"x":1}}`, i, i)
				} else if i%5 == 1 {
					text = fmt.Sprintf(`{"level":"info","msg":"fine %d"}`, i)
				}
				lines = append(lines, line(inst, time.Duration(i)*time.Second, text))
			}
			// Out of order across calls, like per-instance batches.
			mustAppend(t, s, lines[10:]...)
			mustAppend(t, s, lines[:10]...)

			if got := query(t, s, Query{}); len(got) != 20 || !got[0].Time.Equal(t0) {
				t.Fatalf("all: %d lines, first %v", len(got), got[0].Time)
			}
			if got := query(t, s, Query{Since: t0.Add(15 * time.Second)}); len(got) != 5 || !got[0].Time.Equal(t0.Add(15*time.Second)) {
				t.Fatalf("since: %v", texts(got))
			}
			if got := query(t, s, Query{Until: t0.Add(2 * time.Second)}); len(got) != 2 {
				t.Fatalf("until: %v", texts(got))
			}
			if got := query(t, s, Query{Since: t0.Add(3 * time.Second), Until: t0.Add(5 * time.Second)}); !slices.Equal(texts(got), []string{"plain 3", "plain 4"}) {
				t.Fatalf("since+until: %v", texts(got))
			}
			if got := query(t, s, Query{Tail: 3}); !slices.Equal(texts(got), []string{"plain 17", "plain 18", "plain 19"}) {
				t.Fatalf("tail: %v", texts(got))
			}
			if got := query(t, s, Query{Tail: 100}); len(got) != 20 {
				t.Fatalf("tail 100: %d", len(got))
			}
			if got := query(t, s, Query{Tail: 2, Instance: "a"}); len(got) != 2 || got[0].Fields["msg"] != "fine 16" || got[1].Text != "plain 18" {
				t.Fatalf("tail instance: %v", texts(got))
			}
			if got := query(t, s, Query{Grep: regexp.MustCompile(`^plain 1[2-4]$`)}); !slices.Equal(texts(got), []string{"plain 12", "plain 13", "plain 14"}) {
				t.Fatalf("grep: %v", texts(got))
			}
			got := query(t, s, Query{Fields: map[string]string{"level": "error"}})
			if len(got) != 4 {
				t.Fatalf("fields: %v", texts(got))
			}
			f := got[1].Fields
			if f["msg"] != "boom 5" || f["n"] != "5" || f["ok"] != "false" || len(f) != 4 {
				t.Fatalf("fields of %q: %v", got[1].Text, f)
			}
			if got := query(t, s, Query{Fields: map[string]string{"level": "error", "n": "10"}}); len(got) != 1 {
				t.Fatalf("two fields: %v", texts(got))
			}
			if got := query(t, s, Query{Fields: map[string]string{"level": "info"}, Instance: "b"}); len(got) != 2 {
				t.Fatalf("fields+instance: %v", texts(got))
			}
		})
	}
}

func TestFollow(t *testing.T) {
	s := open(t, Options{SegmentBytes: 200})
	mustAppend(t, s, line("a", 0, "old"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Line, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Query(ctx, Query{Env: "prod", App: "shop", Service: "web", Follow: true, Grep: regexp.MustCompile("^(old|new)")},
			func(l Line) error { got <- l; return nil })
	}()
	if l := <-got; l.Text != "old" {
		t.Fatalf("history: %q", l.Text)
	}
	// Enough lines to rotate segments under the follower.
	for i := range 20 {
		start := time.Now()
		mustAppend(t, s, line("b", time.Duration(i)*time.Second, fmt.Sprint("new ", i)), line("b", 0, "skipped by grep"))
		select {
		case l := <-got:
			if l.Text != fmt.Sprint("new ", i) {
				t.Fatalf("follow got %q", l.Text)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("line arrived after %v", d)
			}
		case <-time.After(time.Second):
			t.Fatalf("line %d not followed within 1s", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFollowServiceWithoutLinesAndClose(t *testing.T) {
	s := open(t, Options{})
	got := make(chan Line, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.Query(context.Background(), Query{Env: "prod", App: "shop", Service: "web", Follow: true},
			func(l Line) error { got <- l; return nil })
	}()
	time.Sleep(20 * time.Millisecond) // let the follower start waiting
	mustAppend(t, s, line("a", 0, "first"))
	select {
	case l := <-got:
		if l.Text != "first" {
			t.Fatal(l.Text)
		}
	case <-time.After(time.Second):
		t.Fatal("no line within 1s")
	}
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("follower after Close: %v", err)
	}
	if err := s.Append(line("a", 0, "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
}

func diskBytes(t *testing.T, dir string) (total int64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, files
}

func TestSizeRetention(t *testing.T) {
	dir := t.TempDir()
	const seg, maxBytes = 4 << 10, 32 << 10
	s := open(t, Options{Dir: dir, SegmentBytes: seg, MaxBytesPerService: maxBytes})
	text := strings.Repeat("x", 100)
	var written int64
	for i := range 2000 {
		batch := make([]Line, 10)
		for j := range batch {
			batch[j] = line("a", time.Duration(i*10+j)*time.Millisecond, text)
		}
		mustAppend(t, s, batch...)
		written += 10 * 130
		if total, _ := diskBytes(t, dir); total > maxBytes+seg {
			t.Fatalf("after %d bytes written: %d on disk > %d + %d", written, total, maxBytes, seg)
		}
	}
	st := s.Stats()
	total, files := diskBytes(t, dir)
	if st.Bytes != total || st.Segments != files {
		t.Fatalf("stats %+v, disk %d bytes in %d files", st, total, files)
	}
	// The newest lines are the ones kept, and every kept segment reads.
	got := query(t, s, Query{})
	if int64(len(got)) != st.Lines || !got[len(got)-1].Time.Equal(t0.Add(19999*time.Millisecond)) {
		t.Fatalf("%d lines (stats %d), last %v", len(got), st.Lines, got[len(got)-1].Time)
	}
	for _, f := range mustGlob(t, dir) {
		info, _ := os.Stat(f)
		if info.Size() > seg {
			t.Fatalf("segment %s is %d bytes > %d", f, info.Size(), seg)
		}
	}
}

func mustGlob(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "shop", "prod", "web", "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestAgeRetention(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := open(t, Options{SegmentBytes: 500, MaxAge: time.Hour, Now: clock})
	text := strings.Repeat("y", 100)
	for i := range 20 {
		mustAppend(t, s, Line{Env: "prod", App: "shop", Service: "web", Instance: "a", Text: fmt.Sprint(i, text)}) // time from the clock
		advance(5 * time.Minute)
	}
	// now = t0+100m: lines from t0 to t0+95m; those older than t0+40m expire
	// at the next retention pass.
	s.retainAll()
	got := query(t, s, Query{})
	if len(got) == 0 || got[0].Time.Before(t0.Add(40*time.Minute)) || !got[len(got)-1].Time.Equal(t0.Add(95*time.Minute)) {
		t.Fatalf("kept %d lines from %v", len(got), got[0].Time)
	}
	// An idle service expires entirely, active segment included.
	advance(2 * time.Hour)
	s.retainAll()
	if got := query(t, s, Query{}); len(got) != 0 {
		t.Fatalf("after 2h idle: %d lines", len(got))
	}
	if st := s.Stats(); st.Bytes != 0 {
		t.Fatalf("stats after expiry: %+v", st)
	}
	mustAppend(t, s, Line{Env: "prod", App: "shop", Service: "web", Text: "again"})
	if got := query(t, s, Query{}); len(got) != 1 {
		t.Fatalf("append after expiry: %v", texts(got))
	}
}

func TestRestartKeepsEveryLine(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SegmentBytes: 2000, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 100 {
		l := line("a", time.Duration(i)*time.Second, fmt.Sprint("line ", i))
		mustAppend(t, s, l)
		want = append(want, l.Text)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Options{Dir: dir, SegmentBytes: 2000})
	if got := texts(query(t, s, Query{})); !slices.Equal(got, want) {
		t.Fatalf("after restart: %d lines, want %d", len(got), len(want))
	}
	// Appending continues after the restart.
	mustAppend(t, s, line("a", 100*time.Second, "after"))
	want = append(want, "after")
	if got := texts(query(t, s, Query{})); !slices.Equal(got, want) {
		t.Fatalf("append after restart: %v", got[len(got)-3:])
	}
}

// TestCrashWithoutClose reopens a directory whose store was never closed,
// as after kill -9: what Append returned for is in the files.
func TestCrashWithoutClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustAppend(t, s, line("a", time.Duration(i)*time.Second, fmt.Sprint(i)))
	}
	s2 := open(t, Options{Dir: dir})
	if got := query(t, s2, Query{}); len(got) != 50 {
		t.Fatalf("after crash: %d lines", len(got))
	}
	s.Close()
}

func TestTornLastRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustAppend(t, s, line("a", time.Duration(i)*time.Second, fmt.Sprint("line ", i)))
	}
	// Half of a real record after the last one, as a crash mid-write leaves,
	// in the still-active segment (the store is not closed).
	rec := appendRecord(nil, &Line{Time: t0, Instance: "a", Text: "torn record that never completed"})
	files := mustGlob(t, dir)
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(rec[:len(rec)/2])
	f.Close()

	s2 := open(t, Options{Dir: dir})
	got := query(t, s2, Query{})
	if len(got) != 10 || got[9].Text != "line 9" {
		t.Fatalf("after torn record: %v", texts(got))
	}
	mustAppend(t, s2, line("a", 10*time.Second, "line 10"))
	if got := query(t, s2, Query{}); len(got) != 11 || got[10].Text != "line 10" {
		t.Fatalf("append after torn record: %v", texts(got))
	}
	s.Close()

	// Garbage at the end of a sealed segment is skipped too.
	s2.Close()
	files = mustGlob(t, dir)
	f, _ = os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("\xff\xff\x00\x00garbage"))
	f.Close()
	s3 := open(t, Options{Dir: dir})
	if got := query(t, s3, Query{}); len(got) != 11 {
		t.Fatalf("garbage after sealed segment: %d lines", len(got))
	}
}

func TestHugeLineTruncated(t *testing.T) {
	s := open(t, Options{})
	huge := strings.Repeat("é", 5<<20) // 10 MB of two-byte runes
	mustAppend(t, s, line("a", 0, huge), line("a", time.Second, "next"))
	got := query(t, s, Query{})
	if len(got) != 2 {
		t.Fatalf("%d lines", len(got))
	}
	l := got[0]
	if !l.Truncated || l.Binary || len(l.Text) > DefaultMaxLineBytes || len(l.Text) < DefaultMaxLineBytes-4 || !strings.HasPrefix(huge, l.Text) {
		t.Fatalf("truncated=%v binary=%v len=%d", l.Truncated, l.Binary, len(l.Text))
	}
	if got[1].Truncated || got[1].Text != "next" {
		t.Fatalf("next line: %+v", got[1])
	}
	// A huge JSON line is not parsed (it is cut), and is still stored.
	mustAppend(t, s, line("a", 2*time.Second, `{"msg":"`+strings.Repeat("z", 10<<20)+`"}`))
	if l := query(t, s, Query{Tail: 1})[0]; !l.Truncated || l.Fields != nil {
		t.Fatalf("huge json: truncated=%v fields=%v", l.Truncated, l.Fields)
	}
}

func TestBinaryGarbageMarked(t *testing.T) {
	s := open(t, Options{MaxLineBytes: 64})
	garbage := "ok\x00\xff\xfe\x80bin"
	mustAppend(t, s, line("a", 0, garbage), line("a", time.Second, strings.Repeat("\xff", 1000)), line("a", 2*time.Second, "héllo"))
	got := query(t, s, Query{})
	if l := got[0]; !l.Binary || l.Truncated || l.Text != `ok\x00\xff\xfe\x80bin` {
		t.Fatalf("garbage stored as %+v", l)
	}
	if l := got[1]; !l.Binary || !l.Truncated || len(l.Text) > 64 {
		t.Fatalf("long garbage stored as binary=%v truncated=%v len=%d", l.Binary, l.Truncated, len(l.Text))
	}
	if l := got[2]; l.Binary || l.Text != "héllo" {
		t.Fatalf("valid UTF-8 stored as %+v", l)
	}
}

func TestInvalid(t *testing.T) {
	s := open(t, Options{})
	if err := s.Append(line("a", 0, "fine"), Line{Env: "prod", App: "shop", Text: "no service"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("append without service: %v", err)
	}
	if got := query(t, s, Query{}); len(got) != 0 {
		t.Fatalf("a refused call wrote %d lines", len(got))
	}
	if err := s.Query(context.Background(), Query{App: "shop"}, func(Line) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("query without service: %v", err)
	}
	// Names cannot leave the directory.
	l := line("a", 0, "x")
	l.App, l.Env, l.Service = "..", "../..", "a/b"
	mustAppend(t, s, l)
	if got := query(t, s, Query{App: "..", Env: "../..", Service: "a/b"}); len(got) != 1 {
		t.Fatalf("escaped names: %d lines", len(got))
	}
	if st := s.Stats(); len(st.Services) != 1 || st.Services[0].App != ".." || st.Services[0].Service != "a/b" {
		t.Fatalf("stats: %+v", st)
	}
}

func TestStatsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, SegmentBytes: 500, Now: func() time.Time { return t0 }})
	for i := range 30 {
		mustAppend(t, s, line("a", time.Duration(i)*time.Second, strings.Repeat("s", 50)))
	}
	before := s.Stats()
	s.Close()
	s = open(t, Options{Dir: dir, SegmentBytes: 500})
	after := s.Stats()
	if before.Lines != 30 || after.Lines != 30 || before.Bytes != after.Bytes || after.Segments != before.Segments {
		t.Fatalf("before %+v after %+v", before, after)
	}
	ss := after.Services[0]
	if !ss.Oldest.Equal(t0) || !ss.Newest.Equal(t0.Add(29*time.Second)) {
		t.Fatalf("range %v..%v", ss.Oldest, ss.Newest)
	}
}

// TestConcurrent appends from many goroutines while others query and
// follow; run with -race.
func TestConcurrent(t *testing.T) {
	s := open(t, Options{SegmentBytes: 4 << 10, MaxBytesPerService: 1 << 30})
	const writers, batches, per = 8, 50, 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	followed := make(chan int, 1)
	go func() {
		n := 0
		s.Query(ctx, Query{Env: "prod", App: "shop", Service: "web", Follow: true}, func(Line) error {
			n++
			if n == writers*batches*per {
				followed <- n
			}
			return nil
		})
	}()
	time.Sleep(10 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]Line, per)
				for i := range batch {
					batch[i] = line(fmt.Sprint("i", w), time.Duration(b*per+i)*time.Millisecond, "x")
				}
				if err := s.Append(batch...); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				s.Query(ctx, Query{Env: "prod", App: "shop", Service: "web", Tail: 10}, func(Line) error { return nil })
				s.Stats()
			}
		})
	}
	wg.Wait()
	got := query(t, s, Query{})
	if len(got) != writers*batches*per {
		t.Fatalf("%d lines", len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b Line) int { return a.Time.Compare(b.Time) }) {
		t.Fatal("not in time order")
	}
	select {
	case <-followed:
	case <-time.After(5 * time.Second):
		t.Fatal("follower did not see every line")
	}
}
