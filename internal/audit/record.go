package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Record is one line of the audit trail: who did what to which target, from
// where, and how it ended. There is deliberately no free-form payload field:
// every field has one narrow meaning, so a secret value has nowhere natural to
// go. Callers must still never put a value (a secret, a password, a token)
// into Target or Result — name the thing ("secret prod/db_password"), never
// its contents.
type Record struct {
	Seq       uint64    `json:"seq"`                  // 1 for the first record, then +1 each; set by Append
	Time      time.Time `json:"time"`                 // UTC, from the Log's clock; set by Append
	Actor     string    `json:"actor"`                // user name, "token:<id>" or "anonymous"
	Action    string    `json:"action"`               // "deploy", "secret.set", "login", …
	Target    string    `json:"target"`               // "mall/prod", "secret prod/db_password", …
	Env       string    `json:"env,omitempty"`        // environment, when the call has one
	Source    string    `json:"source"`               // remote address
	UserAgent string    `json:"user_agent,omitempty"` // as sent by the client, cut to MaxField bytes
	Result    string    `json:"result"`               // "started", "ok", "denied", "failed", "error: <short reason>"
	Status    int       `json:"status,omitempty"`     // HTTP status, when known
	// Count is how many events an aggregated record stands for (see
	// Aggregator); 0 for a record of one event.
	Count uint64 `json:"count,omitempty"`
	// Scheme says how Hash was computed: "" (records written before keyed
	// trails, and by a Log without a key) is the plain SHA-256 of
	// ComputeHash; SchemeHMAC is ComputeMAC under the trail's key. Set by
	// Append.
	Scheme string `json:"scheme,omitempty"`
	Prev   string `json:"prev"` // Hash of the previous record; "" for the first; set by Append
	Hash   string `json:"hash"` // see Scheme; set by Append
}

// SchemeHMAC marks a record whose Hash is ComputeMAC under the trail's key.
const SchemeHMAC = "hmac-sha256"

// MaxField is the longest string field Append keeps, in bytes, after
// escaping; each field has its own, smaller bound in fieldLimits. Longer
// values (a client's user agent, a long error) are cut at a UTF-8 boundary
// and end in "…". The bounds keep a whole record near 1.5 KB at most, well
// under a page, so one write(2) carries it and a flood of long requests
// cannot grow the file faster than its record count allows.
const MaxField = 512

// fieldLimits bounds each string field, in bytes. Actor is a user name or
// token id, Action a route's constant, Source an IP address; Target (a
// method and path) and Result (a short reason) are the longest legitimate
// values.
var fieldLimits = struct{ actor, action, target, env, source, userAgent, result int }{
	actor: 128, action: 64, target: MaxField, env: 128, source: 64, userAgent: 256, result: MaxField,
}

// ComputeHash returns the hex SHA-256 of the record's canonical encoding:
// every field except Hash and Scheme, Prev included, in a fixed order. The
// encoding is our own, not JSON, so it does not change if the JSON library,
// field order or escaping ever does:
//
//	haven-audit-v1\n
//	seq=<decimal>\n
//	time=<RFC 3339 with nanoseconds, UTC>\n
//	actor=<Go-quoted string>\n  … target, env, source, user_agent, result
//	status=<decimal>\n
//	count=<decimal>\n            only when Count is not 0
//	prev=<Go-quoted string>\n
//
// Quoting makes the encoding injective: no two different records encode to
// the same bytes, whatever their strings contain. Records before Count
// existed have none, so their encoding, and their hash, are unchanged.
//
// Anyone can compute it: it detects accidents, not an attacker who can
// write the file. ComputeMAC is the keyed form.
func ComputeHash(r Record) string {
	sum := sha256.Sum256(encode(r, "haven-audit-v1\n", r.Count != 0))
	return hex.EncodeToString(sum[:])
}

// ComputeMAC returns the hex HMAC-SHA256 under key of the record's keyed
// encoding: ComputeHash's, with the first line "haven-audit-v2" and the
// count line always present. Without the key it cannot be computed, so a
// keyed record cannot be edited, forged or re-chained without the key.
func ComputeMAC(r Record, key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(encode(r, "haven-audit-v2\n", true))
	return hex.EncodeToString(m.Sum(nil))
}

// hashOf computes r's Hash the way its Scheme says; "" for a scheme it
// does not know or a keyed record without a key, which never matches.
func hashOf(r Record, key []byte) string {
	switch r.Scheme {
	case "":
		return ComputeHash(r)
	case SchemeHMAC:
		if key == nil {
			return ""
		}
		return ComputeMAC(r, key)
	}
	return ""
}

func encode(r Record, version string, withCount bool) []byte {
	b := make([]byte, 0, 256)
	b = append(b, version...)
	b = append(b, "seq="...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, "\ntime="...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	for _, f := range [...]struct{ name, v string }{
		{"actor", r.Actor}, {"action", r.Action}, {"target", r.Target}, {"env", r.Env},
		{"source", r.Source}, {"user_agent", r.UserAgent}, {"result", r.Result},
	} {
		b = append(b, '\n')
		b = append(b, f.name...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, f.v)
	}
	b = append(b, "\nstatus="...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	if withCount {
		b = append(b, "\ncount="...)
		b = strconv.AppendUint(b, r.Count, 10)
	}
	b = append(b, "\nprev="...)
	b = strconv.AppendQuote(b, r.Prev)
	b = append(b, '\n')
	return b
}

// bound makes s safe to store and show: invalid UTF-8 becomes U+FFFD,
// control characters (C0, DEL, C1), line and paragraph separators and the
// bidirectional overrides are written as \xNN or \uNNNN escapes, so a
// record read in a terminal (`haven audit`) cannot move the cursor, clear
// the screen or reorder text; then it is cut to limit bytes without
// splitting a UTF-8 sequence.
func bound(s string, limit int) string {
	clean := true
	for _, c := range s {
		if c == utf8.RuneError || unsafeRune(c) {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		for _, c := range strings.ToValidUTF8(s, "\uFFFD") {
			switch {
			case c < 0x80 && unsafeRune(c):
				fmt.Fprintf(&b, "\\x%02x", c)
			case unsafeRune(c):
				fmt.Fprintf(&b, "\\u%04x", c)
			default:
				b.WriteRune(c)
			}
			if b.Len() > limit {
				break
			}
		}
		s = b.String()
	}
	return clip(s, limit)
}

// unsafeRune reports the characters bound escapes.
func unsafeRune(c rune) bool {
	return unicode.IsControl(c) || c == '\u2028' || c == '\u2029' ||
		(c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069') || c == '\u200e' || c == '\u200f'
}

// clip cuts s to at most limit bytes without splitting a UTF-8 sequence.
func clip(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ell = "…"
	n := limit - len(ell)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ell
}
