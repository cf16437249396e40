package logs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"regexp"
	"slices"
	"time"
)

// Query selects one service's lines.
type Query struct {
	Env, App, Service string
	// Instance limits the lines to one instance ("" for all).
	Instance string
	// Since (inclusive) and Until (exclusive) bound line times; zero is
	// unbounded.
	Since, Until time.Time
	// Grep keeps lines whose text matches.
	Grep *regexp.Regexp
	// Fields keeps lines having every one of these field values
	// (level=error).
	Fields map[string]string
	// Tail > 0 keeps only the last Tail matching lines of the history.
	Tail int
	// Follow streams matching lines as they are appended, after the
	// history, until ctx ends.
	Follow bool
}

// segRef is a segment as a query saw it: the bytes it may read.
type segRef struct {
	seg      *segment
	seq      uint64
	size     int64
	lines    int64
	min, max int64
}

// item is a line with its position, which breaks time ties in append order.
type item struct {
	line Line
	seq  uint64
	off  int64
}

func compareItems(a, b item) int {
	if c := a.line.Time.Compare(b.line.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.seq, b.seq); c != 0 {
		return c
	}
	return cmp.Compare(a.off, b.off)
}

// Query calls fn with the service's matching lines, all instances merged in
// time order (ties in append order). With q.Follow it then calls fn with
// each matching line appended after the query began, in append order, within
// milliseconds of its Append, until ctx ends (returning nil) or the store
// closes (ErrClosed). An error from fn ends the query and is returned.
func (s *Store) Query(ctx context.Context, q Query, fn func(Line) error) error {
	if q.Env == "" || q.App == "" || q.Service == "" {
		return fmt.Errorf("%w: query needs env, app and service", ErrInvalid)
	}
	k := key{q.App, q.Env, q.Service}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	var svc *service
	if q.Follow {
		// Followers of a service with no line yet wait on its notify channel.
		svc = s.service(k)
	} else {
		svc = s.services[k]
	}
	var refs []segRef
	if svc != nil {
		refs = snapshot(svc)
	}
	s.mu.Unlock()

	r := &reader{s: s, q: q, k: k}
	r.since, r.until = int64(math.MinInt64), int64(math.MaxInt64)
	if !q.Since.IsZero() {
		r.since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		r.until = q.Until.UnixNano()
	}
	var err error
	if q.Tail > 0 {
		err = r.tail(ctx, refs, fn)
	} else {
		err = r.ordered(ctx, refs, fn)
	}
	if err != nil || !q.Follow {
		return err
	}
	// Follow from the end of what the history read, so nothing is sent twice
	// or skipped.
	var cur cursor
	if len(refs) > 0 {
		last := refs[len(refs)-1]
		cur = cursor{last.seq, last.size}
	}
	return r.follow(ctx, svc, cur, fn)
}

func snapshot(svc *service) []segRef {
	refs := make([]segRef, 0, len(svc.segs))
	for _, seg := range svc.segs {
		refs = append(refs, segRef{seg: seg, seq: seg.seq, size: seg.size, lines: seg.lines, min: seg.min, max: seg.max})
	}
	return refs
}

type reader struct {
	s            *Store
	q            Query
	k            key
	since, until int64
	buf          []byte // reused for every segment read
}

// candidates are the segments whose time range overlaps the query's.
func (r *reader) candidates(refs []segRef) []segRef {
	var out []segRef
	for _, ref := range refs {
		if ref.lines > 0 && ref.max >= r.since && ref.min < r.until {
			out = append(out, ref)
		}
	}
	return out
}

// ordered streams the history in time order. Segments are read in seq
// order; after each, the pending lines no newer than the oldest line of any
// later segment are final and sent.
func (r *reader) ordered(ctx context.Context, refs []segRef, fn func(Line) error) error {
	cands := r.candidates(refs)
	// watermark[i] is the oldest line time in cands[i:].
	watermark := make([]int64, len(cands)+1)
	watermark[len(cands)] = math.MaxInt64
	for i := len(cands) - 1; i >= 0; i-- {
		watermark[i] = min(cands[i].min, watermark[i+1])
	}
	var pending []item
	for i, ref := range cands {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := r.read(ref, 0, func(it item) error {
			pending = append(pending, it)
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(pending, compareItems)
		n := 0
		for n < len(pending) && pending[n].line.Time.UnixNano() <= watermark[i+1] {
			if err := fn(pending[n].line); err != nil {
				return err
			}
			n++
		}
		pending = slices.Delete(pending, 0, n)
	}
	return nil
}

// tail sends the last q.Tail matching lines in time order. Segments are read
// newest first until no older segment can hold a line newer than the oldest
// line kept.
func (r *reader) tail(ctx context.Context, refs []segRef, fn func(Line) error) error {
	cands := r.candidates(refs)
	// newest[i] is the newest line time in cands[:i].
	newest := make([]int64, len(cands)+1)
	newest[0] = math.MinInt64
	for i, ref := range cands {
		newest[i+1] = max(newest[i], ref.max)
	}
	var kept []item
	for i := len(cands) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := r.read(cands[i], 0, func(it item) error {
			kept = append(kept, it)
			return nil
		})
		if err != nil {
			return err
		}
		if len(kept) < r.q.Tail {
			continue
		}
		slices.SortFunc(kept, compareItems)
		kept = slices.Delete(kept, 0, len(kept)-r.q.Tail)
		// A line of an older segment at the same time sorts before the kept
		// ones (lower seq), so equality is enough to stop.
		if newest[i] <= kept[0].line.Time.UnixNano() {
			break
		}
	}
	slices.SortFunc(kept, compareItems)
	if len(kept) > r.q.Tail {
		kept = kept[len(kept)-r.q.Tail:]
	}
	for _, it := range kept {
		if err := fn(it.line); err != nil {
			return err
		}
	}
	return nil
}

// cursor is a follower's position: the next byte to read.
type cursor struct {
	seq uint64
	off int64
}

// follow sends lines appended after cur, waking on each Append.
func (r *reader) follow(ctx context.Context, svc *service, cur cursor, fn func(Line) error) error {
	for {
		r.s.mu.Lock()
		refs := snapshot(svc)
		wake := svc.notify
		r.s.mu.Unlock()
		for _, ref := range refs {
			if ref.seq < cur.seq {
				continue
			}
			from := int64(0)
			if ref.seq == cur.seq {
				from = cur.off
			}
			if ref.size > from {
				err := r.read(ref, from, func(it item) error { return fn(it.line) })
				if err != nil {
					return err
				}
			}
			cur = cursor{ref.seq, ref.size}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.s.done:
			return ErrClosed
		case <-wake:
		}
	}
}

// read calls fn with the matching lines of ref from byte from to ref.size.
// A segment deleted by retention meanwhile is skipped; reading a segment
// stops at a damaged record.
func (r *reader) read(ref segRef, from int64, fn func(item) error) error {
	f, err := r.s.openSegment(ref.seg)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	n := int(ref.size - from)
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	buf := r.buf[:n]
	m, err := f.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	buf = buf[:m]
	for off := 0; off < len(buf); {
		rec, size, ok := readRecord(buf[off:])
		if !ok {
			return nil
		}
		if l, ok := r.match(&rec); ok {
			if err := fn(item{line: l, seq: ref.seq, off: from + int64(off)}); err != nil {
				return err
			}
		}
		off += size
	}
	return nil
}

// openSegment opens a segment's file, following a rename by seal between
// reading its path and opening it.
func (s *Store) openSegment(seg *segment) (*os.File, error) {
	for {
		s.mu.Lock()
		path, deleted := seg.path, seg.deleted
		s.mu.Unlock()
		if deleted {
			return nil, fs.ErrNotExist
		}
		f, err := os.Open(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		s.mu.Lock()
		moved := seg.path != path || seg.deleted
		s.mu.Unlock()
		if !moved {
			return nil, err
		}
	}
}

// match applies the query's filters to a record, cheapest first, and
// copies it out of the segment buffer only when it matches.
func (r *reader) match(rec *rawRecord) (Line, bool) {
	if rec.time < r.since || rec.time >= r.until {
		return Line{}, false
	}
	if r.q.Instance != "" && string(rec.instance) != r.q.Instance {
		return Line{}, false
	}
	for k, v := range r.q.Fields {
		if got, ok := rec.field(k); !ok || got != v {
			return Line{}, false
		}
	}
	if r.q.Grep != nil && !r.q.Grep.Match(rec.text) {
		return Line{}, false
	}
	return Line{
		Time:      unixTime(rec.time),
		Env:       r.k.env,
		App:       r.k.app,
		Service:   r.k.service,
		Instance:  string(rec.instance),
		Stream:    string(rec.stream),
		Text:      string(rec.text),
		Fields:    rec.decodeFields(),
		Truncated: rec.flags&flagTruncated != 0,
		Binary:    rec.flags&flagBinary != 0,
	}, true
}
