package proxy

import "time"

// This file is the transport-neutral core of a request: what a front end
// (the HTTP chain today; a TCP or another HTTP server later) calls once it
// has matched a route. It knows the routing table, backends, groups and
// weights, picking, draining, ejection and statistics, and nothing of
// net/http: the front end does the I/O and says how each attempt ended.

// routed is what the core knows of one request: its route in the table it
// was matched in, and where its attempts went.
type routed struct {
	table    *table // the table the route came from
	host     string // canonical host
	path     string // the clean path, before stripping
	route    route
	backend  *backend
	prefix   string // route prefix to strip; "" to forward the path as is
	target   *target
	group    string // the target's group
	attempts int
}

// tries walks one request's attempts over its backend's targets: it picks
// the next target, counts it in flight, ejects a target that refused a
// connection, and charges the group of the attempt that answered or
// failed last. It lives on the front end's stack for one request.
type tries struct {
	p  *Proxy
	rt *routed
	// The targets tried so far: the first ones in buf, which lives with
	// tries on the caller's stack, all of them in spill past that.
	buf     [4]*target
	n       int
	spill   []*target
	last    member    // the member of the last attempt
	start   time.Time // when the last attempt began
	failure error     // the last attempt's error; nil if none failed
}

func (p *Proxy) tries(rt *routed) tries { return tries{p: p, rt: rt} }

// next returns the member to try now, counted in flight: the caller must
// end the attempt with succeeded or failed. False when no target is left
// or Config.MaxAttempts were made.
func (s *tries) next(now time.Time) (member, bool) {
	for s.rt.attempts < s.p.cfg.MaxAttempts {
		m := s.rt.backend.pick(now.UnixNano(), s.tried())
		if m.t == nil && s.failure == nil && s.p.refresh(s.rt) {
			m = s.rt.backend.pick(now.UnixNano(), s.tried())
		}
		if m.t == nil {
			return member{}, false
		}
		s.add(m.t)
		if !m.t.acquire() {
			continue // started draining after we read the table; try another
		}
		s.rt.attempts++
		s.rt.target, s.rt.group = m.t, m.stats.name
		s.last, s.start = m, now
		return m, true
	}
	return member{}, false
}

func (s *tries) tried() []*target {
	if s.spill != nil {
		return s.spill
	}
	return s.buf[:s.n]
}

func (s *tries) add(t *target) {
	if s.spill == nil && s.n < len(s.buf) {
		s.buf[s.n] = t
		s.n++
		return
	}
	if s.spill == nil {
		s.spill = append([]*target(nil), s.buf[:s.n]...)
	}
	s.spill = append(s.spill, t)
}

// succeeded records the last attempt's answer: status, and the time to it.
// The target stays in flight until the front end releases it, at the end
// of the response.
func (s *tries) succeeded(status int, now time.Time) {
	s.last.stats.record(status, now.Sub(s.start))
}

// failed ends the last attempt with err, before any answer; dial says it
// failed connecting, which ejects the target for Config.EjectCooldown.
// Only a dial failure ejects: a reset can be caused by the request itself
// (a handler that crashes on it), and ejecting for that would let one bad
// request, retried, eject every target in turn.
func (s *tries) failed(err error, dial bool, now time.Time) {
	t := s.last.t
	t.release()
	s.failure = err
	if dial && t.eject(now, now.Add(s.p.cfg.EjectCooldown)) {
		s.p.log.Warn("target ejected", "target", t.id, "addr", t.addr, "backend", s.rt.backend.name,
			"for", s.p.cfg.EjectCooldown, "err", err)
	}
}

// charge records the request's failure, decided by the front end after the
// last attempt, against the last attempt's group: status, and the time
// since that attempt began. Only the last failure is charged: an earlier
// one was retried, and what the client sees is the last.
func (s *tries) charge(status int, now time.Time) {
	s.last.stats.record(status, now.Sub(s.start))
}

// refresh re-matches a request whose backend ran out of targets against a
// newer routing table. Between the front end reading the table and the
// core picking, Updates may have moved every target of the old table to
// draining; the new table has their replacements. The new route must be
// the same (prefix and strip) as the old, because the front end already
// shaped the request by the old one.
func (p *Proxy) refresh(rt *routed) bool {
	cur := p.table.Load()
	if cur == rt.table {
		return false
	}
	r, ok := cur.match(rt.host, rt.path)
	if !ok || r.prefix != rt.route.prefix || r.strip != rt.route.strip || r.backend.name != rt.backend.name {
		return false
	}
	rt.table, rt.route, rt.backend = cur, r, r.backend
	return true
}

// retryable is the retry rule: whether a failed attempt may be tried on
// another target. A dial failure means the request never reached an
// instance: any method is retried, as long as no byte of its body was
// read. Any other failure before an answer (reset, EOF) may come after
// the instance acted: only idempotent methods (RFC 9110: GET, HEAD,
// OPTIONS, TRACE, PUT, DELETE) or requests carrying an Idempotency-Key
// are retried, and only without a body, which cannot be replayed.
func retryable(dial bool, method string, keyed, hasBody, bodyStarted bool) bool {
	if dial {
		return !bodyStarted
	}
	if hasBody {
		return false
	}
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return keyed
}
