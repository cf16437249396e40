package spec

import (
	"errors"
	"fmt"
	"strings"
)

// One canonical form for route hosts and paths, used by validation, the
// deploy-time conflict check and the ingress alike. Had each its own idea
// of "the same host", a route could pass the conflict check as
// "PROD.LOCALHOST" and then share the ingress's lookup key with
// "prod.localhost", leaving the ingress to pick a winner at runtime.

// CanonicalHost is the form the ingress matches a host in: lower case,
// without a port and without a trailing dot, so "API.example.com.:8080"
// and "api.example.com" are one host. It takes a route's host or a
// request's Host header; "" (any host) stays "". The common case, a host
// already canonical, allocates nothing.
func CanonicalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// CanonicalPath is the form the ingress matches a route's path prefix in:
// rooted, without a trailing slash ("", "api", "/api/" and "/api" are one
// prefix, "/api"), "/" for the root.
func CanonicalPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if p = strings.TrimRight(p, "/"); p == "" {
		return "/"
	}
	return p
}

// Canonical returns the route with its host and path in canonical form:
// what a deploy stores, so the stored route is the one the ingress serves.
func (r Route) Canonical() Route {
	r.Host, r.PathPrefix = CanonicalHost(r.Host), CanonicalPath(r.PathPrefix)
	return r
}

// Key identifies the route's claim on the ingress, in canonical form: two
// routes with the same key are the same lookup for the ingress and so
// conflict, however their hosts and paths were written.
func (r Route) Key() string { return CanonicalHost(r.Host) + CanonicalPath(r.PathPrefix) }

// Covers reports whether a request the ingress sends to route o could be
// taken by r instead: same canonical host, and r's prefix contains o's or
// o's contains r's on a segment boundary ("/" covers everything, "/api"
// covers "/api/v1", not "/apix").
func (r Route) Covers(o Route) bool {
	if CanonicalHost(r.Host) != CanonicalHost(o.Host) {
		return false
	}
	a, b := CanonicalPath(r.PathPrefix), CanonicalPath(o.PathPrefix)
	return segmentPrefix(a, b) || segmentPrefix(b, a)
}

func segmentPrefix(prefix, p string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}

// MaxHostLength is the longest host name DNS allows.
const MaxHostLength = 253

// MaxPathLength bounds a route's path prefix: longer than any real URL
// prefix, short enough that a table of them stays small.
const MaxPathLength = 1024

// ErrBadHost and ErrBadPath are the reasons CheckHost and CheckPath give.
var (
	ErrBadHost = errors.New("bad route host")
	ErrBadPath = errors.New("bad route path")
)

// CheckHost reports what is wrong with a route host as written, or nil.
// The host must be a DNS name (ASCII letters, digits and '-' in labels of
// at most 63; an internationalized name in its punycode "xn--" form),
// without scheme, port or path. Case and one trailing dot are allowed:
// CanonicalHost drops them. "" (any host) is valid.
func CheckHost(h string) error {
	if h == "" {
		return nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %q "+format, append([]any{ErrBadHost, h}, args...)...)
	}
	if i := firstControl(h); i >= 0 {
		return bad("contains the control character %q; write a plain host name (e.g. shop.example.com)", h[i])
	}
	switch {
	case strings.Contains(h, "://"):
		return bad("must not include a scheme; write the host alone (e.g. shop.example.com)")
	case strings.ContainsAny(h, "/?#"):
		return bad("must not include a path; put the path in `path:`")
	case strings.Contains(h, ":"):
		return bad("must not include a port: the ingress matches the host on whichever port it listens on; remove %q", h[strings.LastIndexByte(h, ':'):])
	}
	c := CanonicalHost(h)
	if len(c) > MaxHostLength {
		return bad("is %d characters long; a host name has at most %d", len(c), MaxHostLength)
	}
	for _, label := range strings.Split(c, ".") {
		if label == "" {
			return bad("has an empty label (two dots in a row, or a leading dot)")
		}
		if !validHostLabel(label) {
			return bad("has the label %q; labels are a-z, 0-9 and '-' (not first or last), at most 63 characters; write an internationalized name in punycode (xn--…)", label)
		}
	}
	return nil
}

func validHostLabel(l string) bool {
	if len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// CheckPath reports what is wrong with a route path prefix as written, or
// nil. The path starts with "/" and is what the ingress compares with a
// cleaned, decoded request path: no control characters or spaces, no
// query or fragment, no percent-escapes (write the path decoded), no "."
// or ".." segments and no empty segments (a trailing slash is fine:
// CanonicalPath drops it).
func CheckPath(p string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %q "+format, append([]any{ErrBadPath, p}, args...)...)
	}
	if i := firstControl(p); i >= 0 {
		return bad("contains the control character %q; a route path is printable", p[i])
	}
	switch {
	case !strings.HasPrefix(p, "/"):
		return bad("must start with /")
	case len(p) > MaxPathLength:
		return bad("is %d bytes long; a route path has at most %d", len(p), MaxPathLength)
	case strings.ContainsAny(p, " \t?#%\\"):
		return bad("must not contain spaces, '?', '#', '%%' or '\\': it is matched against the decoded request path, without query")
	}
	segs := strings.Split(strings.TrimSuffix(p[1:], "/"), "/")
	for _, s := range segs {
		switch s {
		case "":
			if p != "/" {
				return bad("has an empty segment (\"//\"); the ingress cleans request paths, so it would never match")
			}
		case ".", "..":
			return bad("has a %q segment; the ingress resolves those in request paths, so write the path it resolves to", s)
		}
	}
	return nil
}

// firstControl returns the index of the first ASCII control character
// (C0 or DEL) in s, or -1. The C1 range and other invisible runes are
// checked by Printable.
func firstControl(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return i
		}
	}
	return -1
}

// Printable reports whether s has no control characters (C0, DEL, C1) and
// is valid UTF-8: what a name, label or route shown in a terminal table
// must be, so that it cannot carry an escape sequence.
func Printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			return false
		}
	}
	return true
}
