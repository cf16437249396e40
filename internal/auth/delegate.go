package auth

import (
	"fmt"
	"strings"
	"time"
)

// Delegation is the most a credential may pass on to a credential it
// creates: its bindings (as they act now, already cut to its user's
// current roles) and its expiry. Every credential derived from another
// (an API token from a token or session today; node tokens, console
// sessions later) goes through Delegate, so "delegation never widens" is
// decided in one place.
type Delegation struct {
	Bindings []Binding
	NotAfter time.Time
}

// Delegate decides the bindings and expiry of a credential created under
// bound for a user holding holder, asking for asked bindings (none: the
// widest allowed) and lifetime ttl (0: def, cut to the widest allowed) at
// now. The result carries at most what both bound and holder grant, and
// expires no later than bound.NotAfter.
//
// Explicit asks beyond the bound are refused, never silently narrowed, so
// a CI job does not get a token weaker than it was written for without
// being told; defaults are the widest allowed, so `haven token create`
// without flags works from any credential. Errors wrap ErrInvalid and say
// what was refused and what would be accepted.
func Delegate(bound Delegation, holder, asked []Binding, ttl, def time.Duration, now time.Time) ([]Binding, time.Time, error) {
	if bound.NotAfter.IsZero() {
		// A credential without an expiry cannot exist; refusing here keeps
		// a zero Delegation (a caller's bug) from meaning "unbounded".
		return nil, time.Time{}, fmt.Errorf("%w: the credential creating this one has no expiry, so nothing can be derived from it", ErrInvalid)
	}
	left := bound.NotAfter.Sub(now)
	if left < time.Minute {
		return nil, time.Time{}, fmt.Errorf("%w: the credential creating this one expires %s, in less than a minute: log in again or use a longer-lived token", ErrInvalid, clock(bound.NotAfter))
	}
	expires := now.Add(ttl)
	if ttl == 0 {
		expires = now.Add(def)
		if expires.After(bound.NotAfter) {
			expires = bound.NotAfter
		}
	} else if expires.After(bound.NotAfter) {
		return nil, time.Time{}, fmt.Errorf("%w: the token would outlive the credential creating it (expires %s): ask for --ttl %s or less", ErrInvalid, clock(bound.NotAfter), shortDuration(left))
	}

	allowed := intersect(bound.Bindings, holder)
	bs, err := normalizeBindings(asked)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(bs) == 0 {
		return allowed, expires, nil
	}
	for _, b := range bs {
		switch {
		case !coveredBy(b, holder):
			return nil, time.Time{}, fmt.Errorf("%w: the token's user does not hold %s (they hold %s), so their token cannot", ErrInvalid, b, bindingList(holder))
		case !coveredBy(b, bound.Bindings):
			return nil, time.Time{}, fmt.Errorf("%w: %s is wider than the credential creating the token (it acts as %s): a token can only be narrowed; create it from a credential that holds %s", ErrInvalid, b, bindingList(bound.Bindings), b)
		}
	}
	return bs, expires, nil
}

// coveredBy reports whether one of held grants at least what b grants.
func coveredBy(b Binding, held []Binding) bool {
	for _, u := range held {
		if u.covers(b) {
			return true
		}
	}
	return false
}

func bindingList(bs []Binding) string {
	if len(bs) == 0 {
		return "no role"
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.String()
	}
	return strings.Join(parts, ", ")
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// shortDuration formats d rounded down to the minute as a --ttl value:
// 9m, 11h59m, 2160h.
func shortDuration(d time.Duration) string {
	out := strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s") // "9m", "11h59m", "2160h0m"
	if h, ok := strings.CutSuffix(out, "h0m"); ok {
		return h + "h"
	}
	return out
}
