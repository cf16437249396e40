package auth

import (
	"net"
	"slices"
	"sync"
	"time"
)

// Login rate limits. Failures are counted per user name and per source
// address in a sliding window; a key with the maximum number of failures in
// the window is refused without checking the password until its oldest
// failure leaves the window. The source limit is higher than the user
// limit because many people share an address (an office NAT, a CI runner,
// and every local CLI call, which comes from 127.0.0.1).
const (
	LoginWindow          = 5 * time.Minute
	MaxFailuresPerUser   = 5
	MaxFailuresPerSource = 20
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

func userKey(user string) string { return "user:" + user }

// sourceKey drops the port: each connection has a new one, and counting
// per ip:port would count nothing.
func sourceKey(source string) string {
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	return "source:" + source
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
// either has reached its limit. An admitted attempt counts as a failure at
// once and is forgiven later if it succeeds: counting only after the
// (slow) password check would let a burst of parallel guesses all pass the
// check before the first failure is recorded.
func (l *limiter) begin(user, source string) (at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.recent(userKey(user), now)) >= MaxFailuresPerUser ||
		len(l.recent(sourceKey(source), now)) >= MaxFailuresPerSource {
		return time.Time{}, false
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
	for _, key := range []string{userKey(user), sourceKey(source)} {
		l.fails[key] = append(l.fails[key], now)
	}
	return now, true
}

// forgive takes back the failure begin counted for the attempt at at: the
// attempt turned out not to be a failure (a right password awaiting its
// code). If successful, the user's whole count is cleared too, so a user
// who mistyped a few times starts afresh. The source's other failures are
// kept: one valid account must not reset the count of an address that is
// guessing at others.
func (l *limiter) forgive(user, source string, at time.Time, successful bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range []string{userKey(user), sourceKey(source)} {
		fs := l.fails[key]
		if i := slices.IndexFunc(fs, at.Equal); i >= 0 {
			fs = slices.Delete(fs, i, i+1)
		}
		if len(fs) == 0 {
			delete(l.fails, key)
		} else {
			l.fails[key] = fs
		}
	}
	if successful {
		delete(l.fails, userKey(user))
	}
}
