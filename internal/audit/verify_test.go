package audit

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// tamper opens a log of ten records, lets change rewrite its lines (index i
// is record i+1), and returns Verify's report.
func tamper(t *testing.T, change func(lines []string) []string) Report {
	t.Helper()
	l := openLog(t)
	appendN(t, l, 10)
	l.Close()
	writeLines(t, l.Path(), change(readLines(t, l.Path())))
	return mustVerify(t, l.Path())
}

// edit changes one record's fields through JSON, as a careful editor would.
func edit(t *testing.T, line string, change func(r *Record)) string {
	t.Helper()
	var r Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	change(&r)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func TestVerifyNamesTheFirstBadRecord(t *testing.T) {
	for _, tc := range []struct {
		name     string
		change   func(t *testing.T, lines []string) []string
		firstBad uint64
		line     int
		reason   string
	}{
		{"untouched", func(t *testing.T, l []string) []string { return l }, 0, 0, ""},
		{"field edited", func(t *testing.T, l []string) []string {
			l[4] = strings.Replace(l[4], `"result":"ok"`, `"result":"denied"`, 1)
			return l
		}, 5, 5, "hash mismatch (record edited)"},
		{"actor edited, hash recomputed", func(t *testing.T, l []string) []string {
			l[4] = edit(t, l[4], func(r *Record) { r.Actor = "mallory"; r.Hash = ComputeHash(*r) })
			return l
		}, 6, 6, "prev does not match"},
		{"seq edited", func(t *testing.T, l []string) []string {
			l[4] = edit(t, l[4], func(r *Record) { r.Seq = 50 })
			return l
		}, 5, 5, "hash mismatch (record edited)"},
		{"time edited", func(t *testing.T, l []string) []string {
			l[4] = edit(t, l[4], func(r *Record) { r.Time = r.Time.Add(-3600e9) })
			return l
		}, 5, 5, "hash mismatch (record edited)"},
		{"unknown field added", func(t *testing.T, l []string) []string {
			l[4] = strings.Replace(l[4], `{`, `{"note":"x",`, 1)
			return l
		}, 5, 5, "unparseable line"},
		{"garbage line", func(t *testing.T, l []string) []string {
			l[4] = "not json\n"
			return l
		}, 5, 5, "unparseable line"},
		{"empty line inserted", func(t *testing.T, l []string) []string {
			return append(l[:4:4], append([]string{"\n"}, l[4:]...)...)
		}, 5, 5, "unparseable line"},
		{"first record deleted", func(t *testing.T, l []string) []string { return l[1:] },
			1, 1, "the log starts at record 2 (record 1 deleted or moved)"},
		{"middle record deleted", func(t *testing.T, l []string) []string {
			return append(l[:4:4], l[5:]...)
		}, 5, 5, "sequence gap after 4 (record 5 deleted or moved)"},
		{"three records deleted", func(t *testing.T, l []string) []string {
			return append(l[:4:4], l[7:]...)
		}, 5, 5, "sequence gap after 4 (records 5–7 deleted or moved)"},
		{"records swapped", func(t *testing.T, l []string) []string {
			l[4], l[5] = l[5], l[4]
			return l
		}, 5, 5, "sequence gap after 4 (record 5 deleted or moved)"},
		{"record repeated", func(t *testing.T, l []string) []string {
			return append(l[:5:5], l[4:]...)
		}, 6, 6, "sequence goes back from 5 to 5"},
		{"last record deleted", func(t *testing.T, l []string) []string { return l[:9] },
			10, 10, "the log ends at record 9 but the head names record 10 (records deleted from the end)"},
		{"last two records deleted", func(t *testing.T, l []string) []string { return l[:8] },
			9, 9, "the log ends at record 8 but the head names record 10"},
		{"all records deleted", func(t *testing.T, l []string) []string { return nil },
			1, 1, "the log ends at record 0 but the head names record 10"},
		{"last record replaced by a recomputed one", func(t *testing.T, l []string) []string {
			l[9] = edit(t, l[9], func(r *Record) { r.Result = "ok, honest"; r.Hash = ComputeHash(*r) })
			return l
		}, 10, 10, "the head does not match record 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := tamper(t, func(l []string) []string { return tc.change(t, l) })
			if tc.reason == "" {
				if !rep.OK || rep.Records != 10 {
					t.Fatalf("Verify = %+v, want OK with 10 records", rep)
				}
				return
			}
			if rep.OK || rep.FirstBad != tc.firstBad || rep.Line != tc.line || !strings.HasPrefix(rep.Reason, tc.reason) {
				t.Fatalf("Verify = %+v\nwant record %d, line %d, reason %q…", rep, tc.firstBad, tc.line, tc.reason)
			}
		})
	}
}

func TestVerifyWithoutHead(t *testing.T) {
	l := openLog(t)
	appendN(t, l, 3)
	l.Close()
	os.Remove(headPath(l.Path()))
	if rep := mustVerify(t, l.Path()); rep.OK || !strings.Contains(rep.Reason, "head file is missing") {
		t.Errorf("Verify = %+v, want the missing head", rep)
	}
}

func TestVerifyEmptyLog(t *testing.T) {
	l := openLog(t)
	if rep, err := l.Verify(); err != nil || !rep.OK || rep.Records != 0 {
		t.Errorf("Verify of a new log = %+v, %v", rep, err)
	}
}

func TestReportString(t *testing.T) {
	if got := (Report{OK: true, Records: 3}).String(); got != "ok: 3 records" {
		t.Errorf("got %q", got)
	}
	bad := Report{FirstBad: 5, Line: 5, Reason: "hash mismatch (record edited)"}
	if got := bad.String(); got != "record 5 (line 5): hash mismatch (record edited)" {
		t.Errorf("got %q", got)
	}
}
