package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Report is the outcome of Verify. When OK is false, FirstBad and Line name
// the first problem and Reason says what it is; later records are not
// examined, since everything after a break is suspect anyway.
type Report struct {
	Records int  `json:"records"` // complete records read before the first problem (all of them when OK)
	OK      bool `json:"ok"`
	// FirstBad is the first sequence number whose record is not as written:
	// edited, deleted, unreadable or cut off the end. 0 when OK.
	FirstBad uint64 `json:"first_bad,omitempty"`
	// Line is the 1-based line of the file where the problem shows: the
	// edited or unreadable line, the line after a gap, or one past the last
	// line when records were cut off the end.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Unkeyed counts the records, at the start of a keyed trail, written
	// before keyed trails existed: their chain proves only what an unkeyed
	// chain can (see the package documentation).
	Unkeyed int `json:"unkeyed,omitempty"`
}

// String is one line for people: "ok: 42 records" or the first problem.
func (r Report) String() string {
	if r.OK && r.Unkeyed > 0 {
		return fmt.Sprintf("ok: %d records, the first %d unkeyed (from before keyed trails)", r.Records, r.Unkeyed)
	}
	if r.OK {
		return fmt.Sprintf("ok: %d records", r.Records)
	}
	return fmt.Sprintf("record %d (line %d): %s", r.FirstBad, r.Line, r.Reason)
}

// Verify walks the audit log at path and its head anchor and reports the
// first record that is not as Append wrote it. It recomputes every record's
// hash ("hash mismatch (record edited)"), checks that sequence numbers run
// 1, 2, 3… ("sequence gap after 41 (record 42 deleted or moved)"), that each record's
// Prev is the previous record's Hash ("prev does not match"), that every
// line is a complete record with no unknown fields ("unparseable line"), and
// that the head names the last record, so records cut off the end are found
// too. The head may lag one record behind: a crash between the two writes.
//
// The error is for failures to read; a tampered log is a Report with OK
// false. Verify does not lock the file: on a live log use Log.Verify, or a
// concurrent append may show as a torn last line.
//
// Verify has no key, so it reports a keyed record as one it cannot check;
// VerifyKey checks keyed trails.
func Verify(path string) (Report, error) { return VerifyKey(path, nil) }

// VerifyKey is Verify for a trail keyed with key (see Options.Key). On top
// of Verify's checks it requires every keyed record's MAC to verify ("MAC
// mismatch"), every record from the head's KeyedFrom on to be keyed, and
// no unkeyed record to follow a keyed one ("unkeyed record in the keyed
// part"), and the head itself to be authenticated. A head without a valid
// MAC means the trail was rewritten by someone without the key (or is
// checked with the wrong key): then only keyed records with valid MACs are
// trusted, and the first record that is not one is named.
func VerifyKey(path string, key []byte) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()

	var (
		rep              Report
		line             int
		lastSeq          uint64
		lastHash, before string
		seenKeyed        bool
	)
	// With a key, the head says from where the trail is keyed; a head
	// that is not authenticated says nothing, so every record must then
	// be keyed to be trusted.
	h, hok, herr := readHead(path)
	headForged := key != nil && !(herr == nil && hok && h.authentic(key))
	keyedFrom := uint64(1)
	if key != nil && !headForged {
		keyedFrom = h.KeyedFrom
	}
	unkeyedWhy := "unkeyed record in the keyed part of the trail (forged without the audit key)"
	if headForged {
		unkeyedWhy = "unkeyed record, and the head is not authenticated by the audit key: the trail was rewritten without the key (or is checked with another key)"
	}
	bad := func(reason string) (Report, error) {
		rep.FirstBad, rep.Line, rep.Reason = lastSeq+1, line, reason
		return rep, nil
	}
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		b, err := br.ReadBytes('\n')
		if err == io.EOF && len(b) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return Report{}, fmt.Errorf("audit: read %s: %w", path, err)
		}
		line++
		if err == io.EOF {
			return bad("torn last line: no newline (an append cut short by a crash; Open removes it)")
		}
		r, perr := parseLine(b[:len(b)-1])
		switch {
		case perr != nil:
			return bad("unparseable line: " + perr.Error())
		case r.Scheme != "" && r.Scheme != SchemeHMAC:
			return bad(fmt.Sprintf("unknown scheme %q (written by a newer Haven, or edited)", r.Scheme))
		case r.Scheme == SchemeHMAC && key == nil:
			return bad("keyed record: verifying it needs the audit key (use `haven audit verify`, which has it)")
		case r.Scheme == SchemeHMAC && hashOf(r, key) != r.Hash:
			return bad("MAC mismatch (record edited, or forged without the audit key)")
		case r.Scheme == "" && key != nil && (seenKeyed || r.Seq >= keyedFrom):
			return bad(unkeyedWhy)
		case r.Scheme == "" && ComputeHash(r) != r.Hash:
			return bad("hash mismatch (record edited)")
		case r.Seq > lastSeq+1 && lastSeq == 0:
			return bad(fmt.Sprintf("the log starts at record %d (%s deleted or moved)", r.Seq, span(1, r.Seq-1)))
		case r.Seq > lastSeq+1:
			return bad(fmt.Sprintf("sequence gap after %d (%s deleted or moved)", lastSeq, span(lastSeq+1, r.Seq-1)))
		case r.Seq <= lastSeq:
			return bad(fmt.Sprintf("sequence goes back from %d to %d (record repeated or moved)", lastSeq, r.Seq))
		case r.Prev != lastHash:
			return bad("prev does not match the previous record's hash (record replaced or moved)")
		}
		rep.Records++
		if key != nil && r.Scheme == "" {
			rep.Unkeyed++
		}
		seenKeyed = seenKeyed || r.Scheme != ""
		lastSeq, before, lastHash = r.Seq, lastHash, r.Hash
	}

	ok := hok
	if herr != nil {
		line++
		return bad("unreadable head: " + herr.Error())
	}
	if headForged && ok {
		line++
		return bad("the head is not authenticated by the audit key: rewritten without the key, or checked with another key")
	}
	if !ok && lastSeq == 0 {
		rep.OK = true // an empty log that was never opened, or just created
		return rep, nil
	}
	if reason, first := headProblem(h, ok, lastSeq, lastHash, before); reason != "" {
		rep.FirstBad, rep.Reason = first, reason
		rep.Line = int(min(first, lastSeq+1)) // lines and sequence numbers agree up to here
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// span names records a..b: "record 42" or "records 42–44".
func span(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("record %d", a)
	}
	return fmt.Sprintf("records %d–%d", a, b)
}

// parseLine decodes one line strictly: unknown fields or trailing data are
// errors, since the hash would not cover them.
func parseLine(b []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Record{}, errors.New("data after the record")
	}
	return r, nil
}
