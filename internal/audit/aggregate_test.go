package audit

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var minute0 = time.Date(2026, 12, 1, 12, 3, 0, 0, time.UTC)

func denied(source string) Record {
	return Record{Actor: "anonymous", Action: "authenticate", Target: "unauthenticated requests", Source: source, Result: "denied", Status: 401}
}

// TestTallyCountsPerSourceAndMinute: events are counted per key and
// minute; a minute's records come out only once it has closed, one per
// key, with the count in Count and in words in Target.
func TestTallyCountsPerSourceAndMinute(t *testing.T) {
	tl := newTally(10)
	for i := range 9873 {
		tl.add(denied("10.0.0.1"), minute0.Add(time.Duration(i)*time.Millisecond))
	}
	tl.add(denied("10.0.0.2"), minute0.Add(59*time.Second))
	tl.add(denied("10.0.0.1"), minute0.Add(time.Minute)) // the next minute

	if got := tl.closed(minute0.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("records of a minute still open: %+v", got)
	}
	got := tl.closed(minute0.Add(time.Minute))
	if len(got) != 2 {
		t.Fatalf("closed = %+v, want one record per source", got)
	}
	if r := got[0]; r.Source != "10.0.0.1" || r.Count != 9873 || r.Actor != "anonymous" || r.Result != "denied" || r.Status != 401 ||
		r.Target != "9873 unauthenticated requests in the minute 2026-12-01 12:03–12:04 UTC" {
		t.Errorf("first record = %+v", r)
	}
	if got[1].Source != "10.0.0.2" || got[1].Count != 1 {
		t.Errorf("second record = %+v", got[1])
	}
	if again := tl.closed(minute0.Add(time.Minute)); len(again) != 0 {
		t.Errorf("records flushed twice: %+v", again)
	}
	rest := tl.closed(time.Time{})
	if len(rest) != 1 || rest[0].Count != 1 || !strings.Contains(rest[0].Target, "12:04–12:05") {
		t.Errorf("Close's flush = %+v", rest)
	}
	if len(tl.buckets)+len(tl.keys) != 0 {
		t.Errorf("state left after the last flush: %d buckets, %d minutes", len(tl.buckets), len(tl.keys))
	}
}

// TestTallyIsBounded: a flood from more sources than MaxKeys in one minute
// keeps MaxKeys keys plus one "others" bucket, and loses no event.
func TestTallyIsBounded(t *testing.T) {
	tl := newTally(10)
	for i := range 5000 {
		tl.add(denied(fmt.Sprintf("10.0.%d.%d", i/256, i%256)), minute0)
	}
	if len(tl.buckets) != 11 {
		t.Fatalf("%d buckets, want 10 sources and one for the others", len(tl.buckets))
	}
	var total uint64
	var others Record
	for _, r := range tl.closed(time.Time{}) {
		total += r.Count
		if r.Source == "others" {
			others = r
		}
	}
	if total != 5000 || others.Count != 4990 || others.Actor != "others" || !strings.Contains(others.Target, "from other sources (over 10 distinct a minute)") {
		t.Errorf("total %d, others %+v", total, others)
	}
}

// TestTallyAllowBudgets: Allow says yes perMinute times per key and
// minute, and no to new keys once MaxKeys were asked about.
func TestTallyAllowBudgets(t *testing.T) {
	tl := newTally(2)
	var yes int
	for range 10 {
		if tl.allow("alice", 3, minute0) {
			yes++
		}
	}
	if yes != 3 {
		t.Errorf("alice allowed %d times, want 3", yes)
	}
	if !tl.allow("bob", 3, minute0) || tl.allow("carol", 3, minute0) {
		t.Error("the key bound does not hold: bob should pass, carol (third key) not")
	}
	if !tl.allow("alice", 3, minute0.Add(time.Minute)) {
		t.Error("a new minute gives a new budget")
	}
	tl.closed(minute0.Add(2 * time.Minute))
	if len(tl.budgets)+len(tl.asked) != 0 {
		t.Errorf("budgets left after their minutes closed: %v %v", tl.budgets, tl.asked)
	}
}

// TestAggregatorWritesOnClose: ten thousand events become one record, and
// the audit file grows by one line, not ten thousand.
func TestAggregatorWritesOnClose(t *testing.T) {
	l := openLog(t)
	a := NewAggregator(l, AggregatorOptions{})
	for range 10000 {
		a.Add(denied("10.0.0.1"))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Add(denied("10.0.0.1")) // after Close: ignored
	recs, err := l.Query(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, r := range recs {
		total += r.Count
	}
	// The events may straddle a minute boundary: then two records.
	if len(recs) == 0 || len(recs) > 2 || total != 10000 {
		t.Fatalf("records %+v, want the 10000 events counted in one or two", recs)
	}
	if fi, _ := os.Stat(l.Path()); fi.Size() > 2048 {
		t.Errorf("audit file is %d bytes", fi.Size())
	}
	if rep, err := l.Verify(); err != nil || !rep.OK {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// TestAggregatorKeepsWhatItCannotWrite: a flush that fails keeps its
// records for the next one.
func TestAggregatorKeepsWhatItCannotWrite(t *testing.T) {
	l := openLog(t)
	a := NewAggregator(l, AggregatorOptions{})
	a.Add(denied("10.0.0.1"))
	if err := os.Chmod(l.Path(), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := a.flush(time.Time{}); err == nil {
		t.Fatal("flush to an unwritable trail succeeded")
	}
	if err := os.Chmod(l.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if recs, _ := l.Query(Filter{}); len(recs) != 1 || recs[0].Count != 1 {
		t.Errorf("records after the retry: %+v", recs)
	}
}
