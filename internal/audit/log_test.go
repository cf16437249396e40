package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openLog opens a fresh log in a temporary directory with a clock that
// advances one second per record, starting at 2025-01-01.
func openLog(t *testing.T) *Log {
	t.Helper()
	return reopen(t, filepath.Join(t.TempDir(), "audit.log"))
}

func reopen(t *testing.T, path string) *Log {
	t.Helper()
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := OpenWith(path, Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func rec(i int) Record {
	return Record{
		Actor:     []string{"alice", "bob", "token:ci"}[i%3],
		Action:    []string{"deploy", "secret.set", "login"}[i%3],
		Target:    fmt.Sprintf("mall/prod #%d", i),
		Env:       "prod",
		Source:    "10.0.0.7:51234",
		UserAgent: "haven-cli/0.1",
		Result:    "ok",
		Status:    200,
	}
}

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func mustVerify(t *testing.T, path string) Report {
	t.Helper()
	rep, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestConcurrentAppendsFormOneChain(t *testing.T) {
	l := openLog(t)
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(rec(w*each + i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	if rep := mustVerify(t, l.Path()); !rep.OK || rep.Records != workers*each {
		t.Fatalf("Verify = %+v, want OK with %d records", rep, workers*each)
	}
	all, err := l.Query(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range all {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i+1, r.Seq)
		}
	}
}

func TestAppendFillsChainFields(t *testing.T) {
	l := openLog(t)
	first, err := l.Append(rec(0))
	if err != nil {
		t.Fatal(err)
	}
	second, err := l.Append(Record{Actor: "anonymous", Action: "login", Target: "alice", Source: "1.2.3.4:5", Result: "denied", Status: 401})
	if err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || first.Prev != "" || second.Seq != 2 || second.Prev != first.Hash {
		t.Errorf("chain fields: first %d %q, second %d %q", first.Seq, first.Prev, second.Seq, second.Prev)
	}
	if want := time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC); !second.Time.Equal(want) {
		t.Errorf("time = %v, want %v from the clock", second.Time, want)
	}
	if second.Hash != ComputeHash(second) {
		t.Error("returned hash does not match the record")
	}
	// What Query reads back is exactly what Append returned.
	got, err := l.Query(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1] != second {
		t.Errorf("Query = %+v, want second record %+v", got, second)
	}
	if fi, err := os.Stat(l.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit.log mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestAppendRejectsIncompleteRecords(t *testing.T) {
	l := openLog(t)
	if _, err := l.Append(Record{Actor: "alice", Action: "deploy"}); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("record without result: err = %v, want a validation error", err)
	}
}

func TestAppendClipsLongFields(t *testing.T) {
	l := openLog(t)
	r := rec(0)
	r.UserAgent = strings.Repeat("é", MaxField) // 2 bytes each: a cut must not split one
	got, err := l.Append(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.UserAgent) > MaxField || !strings.HasSuffix(got.UserAgent, "é…") {
		t.Errorf("user agent clipped to %d bytes ending %q", len(got.UserAgent), got.UserAgent[len(got.UserAgent)-8:])
	}
}

// The hash encoding must never change: logs written by older versions have
// to verify. A change here is a format version bump, not a test update.
func TestComputeHashIsStable(t *testing.T) {
	r := rec(1)
	r.Seq, r.Time, r.Prev = 7, time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC), "abc"
	// printf 'haven-audit-v1\nseq=7\ntime=2025-03-04T05:06:07.000000008Z\nactor="bob"\n
	// action="secret.set"\ntarget="mall/prod #1"\nenv="prod"\nsource="10.0.0.7:51234"\n
	// user_agent="haven-cli/0.1"\nresult="ok"\nstatus=200\nprev="abc"\n' | sha256sum
	const want = "6be01cea7f1e85b66f2c4c0fbc10e5a3336c494b91895d258cf9e5b591929af3"
	if got := ComputeHash(r); got != want {
		t.Errorf("ComputeHash = %s, want %s", got, want)
	}
	// The zone the time was expressed in does not matter, only the instant.
	r2 := r
	r2.Time = r.Time.In(time.FixedZone("x", 3600))
	if ComputeHash(r2) != ComputeHash(r) {
		t.Error("hash depends on the time zone")
	}
}

// Making the file unwritable makes Append fail with ErrUnavailable, even as
// root (tests here usually are): the mode check is Haven's own rule, not the
// kernel's. The API's end-to-end test uses the same chmod.
func TestUnwritableFileFailsClosed(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 3)
	if err := os.Chmod(l.Path(), 0o400); err != nil {
		t.Fatal(err)
	}
	// As root the mode check refuses ("read-only"); as anyone else open(2)
	// already does ("permission denied").
	_, err := l.Append(rec(3))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "read-only") && !errors.Is(err, os.ErrPermission) {
		t.Fatalf("append to a 0400 file: err = %v, want ErrUnavailable", err)
	}
	// Writable again: the chain continues where it stopped.
	if err := os.Chmod(l.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Append(rec(3)); err != nil || r.Seq != 4 {
		t.Fatalf("append after chmod u+w = seq %d, %v; want 4", r.Seq, err)
	}
	if rep := mustVerify(t, l.Path()); !rep.OK || rep.Records != 4 {
		t.Fatalf("Verify = %+v", rep)
	}
}

// Other ways the file stops being ours: each must refuse, never start a new
// chain somewhere else.
func TestMissingOrReplacedFileFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(path string) error
	}{
		{"removed", os.Remove},
		{"replaced by a directory", func(p string) error {
			if err := os.Rename(p, p+".old"); err != nil {
				return err
			}
			return os.Mkdir(p, 0o700)
		}},
		{"replaced by a copy", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.WriteFile(p, b, 0o600)
		}},
		{"truncated", func(p string) error { return os.Truncate(p, 10) }},
		{"written by someone else", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("{}\n")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t)
			appendN(t, l, 2)
			if err := tc.break_(l.Path()); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(rec(2)); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestClosedLogFailsClosed(t *testing.T) {
	l := openLog(t)
	l.Close()
	if _, err := l.Append(rec(0)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestOneLogPerFile(t *testing.T) {
	l := openLog(t)
	if l2, err := Open(l.Path()); err == nil {
		l2.Close()
		t.Fatal("a second Open of the same file succeeded")
	}
	l.Close()
	l2 := reopen(t, l.Path()) // released by Close
	l2.Close()
}

func TestReopenContinuesTheChain(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 5)
	l.Close()
	l = reopen(t, l.Path())
	if r, err := l.Append(rec(5)); err != nil || r.Seq != 6 {
		t.Fatalf("append after reopen = seq %d, %v; want 6", r.Seq, err)
	}
	if l.Recovered() != "" {
		t.Errorf("Recovered = %q on a clean log", l.Recovered())
	}
	if rep := mustVerify(t, l.Path()); !rep.OK || rep.Records != 6 {
		t.Fatalf("Verify = %+v", rep)
	}
}

// A crash in the middle of write(2) leaves half a line without a newline.
// Open takes it out and says so; the chain is whole again.
func TestTornLastLineIsRecovered(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 5)
	l.Close()
	lines := readLines(t, l.Path())
	f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(lines[4][:len(lines[4])/2]) // half of a plausible next record
	f.Close()

	if rep := mustVerify(t, l.Path()); rep.OK || !strings.Contains(rep.Reason, "torn last line") || rep.FirstBad != 6 {
		t.Errorf("Verify before recovery = %+v, want the torn line 6", rep)
	}
	l = reopen(t, l.Path())
	if !strings.Contains(l.Recovered(), "torn last line") {
		t.Errorf("Recovered = %q", l.Recovered())
	}
	if rep := mustVerify(t, l.Path()); !rep.OK || rep.Records != 5 {
		t.Fatalf("Verify after recovery = %+v", rep)
	}
	if r, err := l.Append(rec(5)); err != nil || r.Seq != 6 {
		t.Fatalf("append after recovery = seq %d, %v", r.Seq, err)
	}
	if rep := mustVerify(t, l.Path()); !rep.OK || rep.Records != 6 {
		t.Fatalf("Verify = %+v", rep)
	}
}

// A crash after a record was synced but before its head was renamed into
// place leaves the head one record behind: not tampering. Open catches up.
func TestHeadOneBehindIsACrashNotTampering(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 3)
	h, _, _ := readHead(l.Path())
	appendN(t, l, 1)
	l.Close()
	if err := writeHead(l.Path(), h); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, l.Path()); !rep.OK {
		t.Fatalf("Verify = %+v, want OK", rep)
	}
	reopen(t, l.Path())
	if h, _, _ := readHead(l.Path()); h.Seq != 4 {
		t.Errorf("head after Open = %d, want 4", h.Seq)
	}
}

func TestOpenRefusesToOverwriteEvidence(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 5)
	l.Close()
	lines := readLines(t, l.Path())
	writeLines(t, l.Path(), lines[:3]) // records 4 and 5 cut off the end
	headBefore, _ := os.ReadFile(headPath(l.Path()))

	if _, err := Open(l.Path()); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "records deleted from the end") {
		t.Fatalf("Open = %v, want ErrBroken naming the deleted end", err)
	}
	if headAfter, _ := os.ReadFile(headPath(l.Path())); string(headAfter) != string(headBefore) {
		t.Error("Open rewrote the head of a broken log")
	}
}

func TestQueryFilters(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 9) // alice/deploy, bob/secret.set, token:ci/login, repeated; times 00:00:01…09

	seqs := func(f Filter) string {
		t.Helper()
		rs, err := l.Query(f)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range rs {
			s = append(s, fmt.Sprint(r.Seq))
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "1 2 3 4 5 6 7 8 9"},
		{Filter{Actor: "bob"}, "2 5 8"},
		{Filter{Action: "login"}, "3 6 9"},
		{Filter{Actor: "bob", Action: "login"}, ""},
		{Filter{Since: time.Date(2025, 1, 1, 0, 0, 7, 0, time.UTC)}, "7 8 9"},
		{Filter{Limit: 4}, "6 7 8 9"},
		{Filter{Limit: 9}, "1 2 3 4 5 6 7 8 9"},
		{Filter{Limit: 20}, "1 2 3 4 5 6 7 8 9"},
		{Filter{Actor: "alice", Limit: 2}, "4 7"},
	} {
		if got := seqs(tc.f); got != tc.want {
			t.Errorf("Query(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// BenchmarkAppend measures one durable append: reopen, checks, write and
// fsync of the record, then temp file, fsync, rename and directory fsync of
// the head.
func BenchmarkAppend(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "audit.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for b.Loop() {
		if _, err := l.Append(rec(0)); err != nil {
			b.Fatal(err)
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

// writeLines rewrites the log as a person with an editor would: the same
// inode, the new contents.
func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	s := strings.Join(lines, "")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
