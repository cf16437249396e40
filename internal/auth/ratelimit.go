package auth

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Login rate limits. Failures are counted in a sliding window under three
// keys: the user from one source, the source for every user, and the user
// from every source. A key with its maximum number of failures in the
// window refuses further attempts without checking the password, until
// its oldest failure leaves the window.
//
// The limits are chosen so that one source cannot lock a user out
// everywhere: a source reaches its per-user limit (5) long before the
// user's total (50), so reaching the total takes failures from at least
// MaxFailuresPerUser/MaxFailuresPerUserSource = 10 sources. Until then the
// user logs in from anywhere else at once. The per-source limit is higher
// than the per-user-source one because many people share an address (an
// office NAT, a CI runner, and every local CLI call, which comes from
// the unix socket).
const (
	LoginWindow              = 5 * time.Minute
	MaxFailuresPerUserSource = 5
	MaxFailuresPerSource     = 20
	MaxFailuresPerUser       = 50
)

// maxLimiterKeys bounds the limiter's memory against a flood of invented
// user names or addresses; beyond it, stale keys are swept first, and if
// every key is live some are forgotten.
const maxLimiterKeys = 100_000

// limiter counts recent login failures. It lives in memory only: a server
// restart forgets it, which at most gives an attacker one more window's
// worth of guesses per restart, and restarts are not theirs to cause.
type limiter struct {
	mu    sync.Mutex
	now   func() time.Time
	fails map[string][]time.Time // key → failure times, oldest first
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, fails: map[string][]time.Time{}}
}

// limitKey is one counter of a login attempt and its maximum.
type limitKey struct {
	key string
	max int
}

// keysOf returns the counters an attempt by user from source counts in.
func keysOf(user, source string) [3]limitKey {
	src := sourceKey(source)
	return [3]limitKey{
		{"pair:" + user + "\x00" + src, MaxFailuresPerUserSource},
		{src, MaxFailuresPerSource},
		{"user:" + user, MaxFailuresPerUser},
	}
}

// sourceHost drops the port: each connection has a new one.
func sourceHost(source string) string {
	if host, _, err := net.SplitHostPort(source); err == nil {
		return host
	}
	return source
}

// sourceKey is the counter of an address. IPv6 addresses count per /64:
// one customer commonly holds a whole /64, so counting single addresses
// would give one attacker 2^64 sources.
func sourceKey(source string) string {
	host := sourceHost(source)
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		if p, err := ip.WithZone("").Prefix(64); err == nil {
			host = p.String()
		}
	}
	return "source:" + host
}

// recent returns key's failures still inside the window, dropping the rest.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	fs := l.fails[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= LoginWindow {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.fails, key)
	} else {
		l.fails[key] = fs
	}
	return fs
}

// begin admits a login attempt for user from source, or refuses it when
// any of its counters has reached its limit. An admitted attempt counts as
// a failure at once and is forgiven later if it succeeds: counting only
// after the (slow) password check would let a burst of parallel guesses
// all pass the check before the first failure is recorded.
func (l *limiter) begin(user, source string) (at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	keys := keysOf(user, source)
	for _, k := range keys {
		if len(l.recent(k.key, now)) >= k.max {
			return time.Time{}, false
		}
	}
	if len(l.fails) >= maxLimiterKeys {
		for k := range l.fails {
			l.recent(k, now)
		}
		for k := range l.fails { // still full: forget arbitrary keys
			if len(l.fails) < maxLimiterKeys {
				break
			}
			delete(l.fails, k)
		}
	}
	for _, k := range keys {
		l.fails[k.key] = append(l.fails[k.key], now)
	}
	return now, true
}

// forgive takes back the failure begin counted for the attempt at at: the
// attempt turned out not to be a failure (a right password awaiting its
// code, or our own error). If successful, the user's count from this
// source is cleared too, so a user who mistyped a few times starts afresh
// there. The source's and the user's other failures are kept: one valid
// account must not reset the count of an address that is guessing at
// others, and the real user logging in must not reset the count of
// addresses guessing at them.
func (l *limiter) forgive(user, source string, at time.Time, successful bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := keysOf(user, source)
	for _, k := range keys {
		fs := l.fails[k.key]
		if i := slices.IndexFunc(fs, at.Equal); i >= 0 {
			fs = slices.Delete(fs, i, i+1)
		}
		if len(fs) == 0 {
			delete(l.fails, k.key)
		} else {
			l.fails[k.key] = fs
		}
	}
	if successful {
		delete(l.fails, keys[0].key)
	}
}
