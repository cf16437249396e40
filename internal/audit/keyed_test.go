package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

// openKeyed opens the log at path with testKey (or key) and a clock like
// reopen's.
func openKeyed(t *testing.T, path string, key []byte) *Log {
	t.Helper()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := OpenWith(path, Options{Key: key, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time {
		now = now.Add(time.Second)
		return now
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// forge rewrites every line from index from on the way an attacker without
// the key can: recompute each record's Hash (with hash) and re-link the
// chain, then write a matching head without a MAC.
func forge(t *testing.T, path string, from int, change func(r *Record)) {
	t.Helper()
	lines := readLines(t, path)
	var prev string
	var r Record
	for i, line := range lines {
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if i >= from {
			r.Prev = prev
			change(&r)
			b, _ := json.Marshal(r)
			lines[i] = string(b) + "\n"
		}
		prev = r.Hash
	}
	writeLines(t, path, lines)
	if err := writeHead(path, head{Seq: r.Seq, Hash: r.Hash}); err != nil {
		t.Fatal(err)
	}
}

const plainReason = "unkeyed record, and the head is not authenticated"

// plainSHA is the attacker's rewrite: the old unkeyed format.
func plainSHA(r *Record) { r.Actor = "mallory"; r.Scheme = ""; r.Hash = ComputeHash(*r) }

// labelledSHA keeps the keyed label but can only compute a plain hash.
func labelledSHA(r *Record) { r.Actor = "mallory"; r.Hash = ComputeHash(*r) }

// otherKey MACs under a key of the attacker's own.
func otherKey(r *Record) { r.Actor = "mallory"; r.Hash = ComputeMAC(*r, bytes.Repeat([]byte{7}, 32)) }

// TestRewrittenKeyedChainIsFound: the whole chain and its head recomputed
// without the key — what an attacker with write access to the data
// directory can do — is found by VerifyKey, which names record 1, and
// refused by Open. Without keys (before keyed trails) Verify said "ok".
func TestRewrittenKeyedChainIsFound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Record)
		reason string
	}{
		{"plain SHA-256, old format", plainSHA, plainReason},
		{"plain SHA-256 labelled keyed", labelledSHA, "MAC mismatch"},
		{"another key", otherKey, "MAC mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			l := openKeyed(t, path, testKey)
			appendN(t, l, 10)
			if rep, err := l.Verify(); err != nil || !rep.OK || rep.Records != 10 {
				t.Fatalf("Verify of the untouched keyed trail = %+v, %v", rep, err)
			}
			l.Close()
			forge(t, path, 0, tc.change)

			rep, err := VerifyKey(path, testKey)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBad != 1 || rep.Line != 1 || !strings.HasPrefix(rep.Reason, tc.reason) {
				t.Fatalf("VerifyKey = %+v, want record 1: %s…", rep, tc.reason)
			}
			var warn bytes.Buffer
			l2, err := OpenWith(path, Options{Key: testKey, Logger: slog.New(slog.NewTextHandler(&warn, nil))})
			if tc.reason != plainReason {
				if !errors.Is(err, ErrBroken) {
					t.Fatalf("Open of the rewritten trail = %v, want ErrBroken", err)
				}
				return
			}
			// The documented limit: a trail replaced wholesale by unkeyed
			// records looks like one from before keyed trails. Open
			// continues it keyed, and says how many unkeyed records it
			// found, which on a trail that was keyed before is the alarm.
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			if recs, _ := l2.Query(Filter{Action: "audit.keyed"}); len(recs) != 1 || !strings.HasPrefix(recs[0].Target, "records 1–10 written before keyed trails") {
				t.Errorf("the trail does not say it was re-keyed: %+v", recs)
			}
			l2.Close()
			if !strings.Contains(warn.String(), "unkeyed_records=10") {
				t.Errorf("Open did not warn about the unkeyed records: %s", warn.String())
			}
		})
	}
}

// TestUnkeyedPrefixKeepsVerifying: a trail written before keys existed is
// continued keyed; it verifies whole, and a rewrite of its keyed part is
// named at the first keyed record even when the attacker leaves the
// (authenticated) head alone or strips the keyed label.
func TestUnkeyedPrefixKeepsVerifying(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	old := reopen(t, path)
	appendN(t, old, 3)
	old.Close()
	l := openKeyed(t, path, testKey)
	appendN(t, l, 3)
	if rep, err := l.Verify(); err != nil || !rep.OK || rep.Records != 7 || rep.Unkeyed != 3 {
		t.Fatalf("Verify of a trail with an unkeyed prefix = %+v, %v; want 7 records, 3 unkeyed", rep, err)
	}
	// The trail says where it became keyed.
	if recs, _ := l.Query(Filter{Action: "audit.keyed"}); len(recs) != 1 || recs[0].Seq != 4 ||
		recs[0].Target != "records 1–3 written before keyed trails, unkeyed; keyed from record 4" {
		t.Errorf("audit.keyed records: %+v", recs)
	}
	l.Close()
	if h, _, _ := readHead(path); h.KeyedFrom != 4 || !h.authentic(testKey) {
		t.Fatalf("head = %+v, want keyed from 4 and authenticated", h)
	}
	lines := readLines(t, path)
	headBytes, _ := os.ReadFile(headPath(path))
	for _, tc := range []struct {
		name      string
		change    func(*Record)
		keepHead  bool
		firstBad  uint64
		reasonPre string
	}{
		{"keyed part relabelled unkeyed, head kept", plainSHA, true, 4, "unkeyed record in the keyed part"},
		{"keyed part re-hashed, head kept", labelledSHA, true, 4, "MAC mismatch"},
		// A forged head vouches for nothing, not even the unkeyed prefix.
		{"keyed part re-hashed, head forged", labelledSHA, false, 1, plainReason},
		{"an unkeyed record edited, head kept", plainSHA, true, 2, "prev does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeLines(t, path, lines)
			from := 3
			if tc.firstBad == 2 {
				from = 1 // edit record 2 and re-link only the unkeyed records
			}
			forge(t, path, from, tc.change)
			if tc.keepHead {
				if err := os.WriteFile(headPath(path), headBytes, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := VerifyKey(path, testKey)
			if err != nil {
				t.Fatal(err)
			}
			if tc.firstBad == 2 { // records 2 and 3 relinked as unkeyed; record 4's prev no longer matches
				if rep.OK || rep.FirstBad > 4 {
					t.Fatalf("VerifyKey = %+v, want a problem at record 4 at the latest", rep)
				}
				return
			}
			if rep.OK || rep.FirstBad != tc.firstBad || !strings.HasPrefix(rep.Reason, tc.reasonPre) {
				t.Fatalf("VerifyKey = %+v, want record %d: %s…", rep, tc.firstBad, tc.reasonPre)
			}
		})
	}
}

func TestOpenNeedsTheTrailsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openKeyed(t, path, testKey)
	appendN(t, l, 2)
	l.Close()
	if _, err := Open(path); !errors.Is(err, ErrKeyRequired) {
		t.Errorf("Open without the key = %v, want ErrKeyRequired", err)
	}
	if _, err := OpenWith(path, Options{Key: bytes.Repeat([]byte{1}, 32)}); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "not authenticated by the audit key") {
		t.Errorf("Open with another key = %v, want ErrBroken", err)
	}
	if _, err := OpenWith(path, Options{Key: []byte("short")}); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("Open with a 5-byte key = %v", err)
	}
	if rep := mustVerify(t, path); rep.OK || !strings.Contains(rep.Reason, "needs the audit key") {
		t.Errorf("Verify without the key = %+v, want a record it cannot check", rep)
	}
	// The right key continues the chain.
	l = openKeyed(t, path, testKey)
	appendN(t, l, 1)
	if rep, err := l.Verify(); err != nil || !rep.OK || rep.Records != 3 {
		t.Errorf("Verify after reopening = %+v, %v", rep, err)
	}
}

// The MAC encoding must never change either; see TestComputeHashIsStable.
func TestComputeMACIsStable(t *testing.T) {
	r := rec(1)
	r.Seq, r.Time, r.Prev, r.Count = 7, time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC), "abc", 3
	// printf 'haven-audit-v2\nseq=7\ntime=2025-03-04T05:06:07.000000008Z\nactor="bob"\n
	// action="secret.set"\ntarget="mall/prod #1"\nenv="prod"\nsource="10.0.0.7:51234"\n
	// user_agent="haven-cli/0.1"\nresult="ok"\nstatus=200\ncount=3\nprev="abc"\n' |
	// openssl dgst -sha256 -mac HMAC -macopt hexkey:4242…42 (32 bytes)
	const want = "7f9a03ab85ccda3509dd23c7b1d58231664f993cf675448617ba9fba9b2dda04"
	if got := ComputeMAC(r, testKey); got != want {
		t.Errorf("ComputeMAC = %s, want %s", got, want)
	}
	// A count is covered by the unkeyed hash too.
	r2 := r
	r2.Count = 4
	if ComputeHash(r2) == ComputeHash(r) {
		t.Error("ComputeHash does not cover Count")
	}
}

// TestFieldsAreBoundedAndEscaped: a request made of control characters and
// huge headers gives a short record that cannot drive a terminal.
func TestFieldsAreBoundedAndEscaped(t *testing.T) {
	l := openLog(t)
	huge := strings.Repeat("x", 100<<10)
	got, err := l.Append(Record{Actor: "anonymous\x1b[31m", Action: "authenticate", Target: "GET /v1/\x1b[2J\u202eevil\x00" + huge,
		Source: "10.0.0.1" + huge, UserAgent: "curl\r\n" + huge, Result: "denied", Env: huge, Status: 401})
	if err != nil {
		t.Fatal(err)
	}
	if got.Actor != `anonymous\x1b[31m` || !strings.HasPrefix(got.Target, `GET /v1/\x1b[2J\u202eevil\x00xxx`) || !strings.HasPrefix(got.UserAgent, `curl\x0d\x0a`) {
		t.Errorf("not escaped: actor %q target %.40q ua %.20q", got.Actor, got.Target, got.UserAgent)
	}
	lim := fieldLimits
	for _, f := range []struct {
		v   string
		max int
	}{{got.Target, lim.target}, {got.Source, lim.source}, {got.UserAgent, lim.userAgent}, {got.Env, lim.env}} {
		if len(f.v) > f.max {
			t.Errorf("field of %d bytes, bound %d", len(f.v), f.max)
		}
	}
	if fi, _ := os.Stat(l.Path()); fi.Size() > 2048 {
		t.Errorf("a record of maximal fields takes %d bytes, want under 2 KB", fi.Size())
	}
}

// TestKeyedTrailReplacedByUnkeyedIsRefused: once the store says the trail
// was keyed (Options.Keyed), a trail of unkeyed records only, which is what
// someone without the key can write, is refused; before that (an upgrade,
// or a crash before the store's mark) it is keyed from its next record.
func TestKeyedTrailReplacedByUnkeyedIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	old := reopen(t, path)
	appendN(t, old, 3)
	old.Close()
	if _, err := OpenWith(path, Options{Key: testKey, Keyed: true}); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "was keyed before") {
		t.Fatalf("Open of an unkeyed trail with Keyed = %v, want ErrBroken saying it was keyed before", err)
	}
	l := openKeyed(t, path, testKey) // not marked yet: an upgrade
	appendN(t, l, 1)
	l.Close()
	l, err := OpenWith(path, Options{Key: testKey, Keyed: true})
	if err != nil {
		t.Fatalf("Open of a keyed trail with Keyed: %v", err)
	}
	l.Close()
}
