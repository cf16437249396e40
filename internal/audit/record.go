package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
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
	Prev      string    `json:"prev"`                 // Hash of the previous record; "" for the first; set by Append
	Hash      string    `json:"hash"`                 // see ComputeHash; set by Append
}

// MaxField is the longest string field Append keeps, in bytes; longer values
// (a client's user agent, a long error) are cut at a UTF-8 boundary and end
// in "…". It keeps every line well under a page, so one write(2) carries it.
const MaxField = 1024

// ComputeHash returns the hex SHA-256 of the record's canonical encoding:
// every field except Hash, Prev included, in a fixed order. The encoding is
// our own, not JSON, so it does not change if the JSON library, field order
// or escaping ever does:
//
//	haven-audit-v1\n
//	seq=<decimal>\n
//	time=<RFC 3339 with nanoseconds, UTC>\n
//	actor=<Go-quoted string>\n  … target, env, source, user_agent, result
//	status=<decimal>\n
//	prev=<Go-quoted string>\n
//
// Quoting makes the encoding injective: no two different records encode to
// the same bytes, whatever their strings contain.
func ComputeHash(r Record) string {
	b := make([]byte, 0, 256)
	b = append(b, "haven-audit-v1\n"...)
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
	b = append(b, "\nprev="...)
	b = strconv.AppendQuote(b, r.Prev)
	b = append(b, '\n')
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// clip cuts s to at most MaxField bytes without splitting a UTF-8 sequence.
func clip(s string) string {
	if len(s) <= MaxField {
		return s
	}
	const ell = "…"
	n := MaxField - len(ell)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ell
}
