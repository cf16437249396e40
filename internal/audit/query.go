package audit

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"time"
)

// Filter selects records for Query; zero fields match everything.
type Filter struct {
	Since  time.Time // records at or after this time
	Actor  string    // exact actor, e.g. "alice" or "token:ci"
	Action string    // exact action, e.g. "deploy"
	Limit  int       // keep only the newest Limit matches; 0 means all
}

func (f Filter) match(r Record) bool {
	return (f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Actor == "" || r.Actor == f.Actor) &&
		(f.Action == "" || r.Action == f.Action)
}

// Query returns the records matching f, oldest first. With a Limit it keeps
// the newest Limit of them, like `tail`. It reads the whole file each time:
// audit queries are rare and people-driven, and a scan of a year of records
// takes well under a second. A line that cannot be parsed is an error rather
// than skipped, so a damaged log is never shown as a clean one.
func (l *Log) Query(f Filter) ([]Record, error) {
	l.mu.Lock()
	size, closed := l.size, l.closed
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: closed", ErrUnavailable)
	}
	// The first size bytes are complete records that appends never touch
	// again, so they can be read without holding up appends.
	br := bufio.NewReaderSize(io.NewSectionReader(l.rd, 0, size), 64<<10)
	var (
		out  []Record
		kept int // with a Limit, out is a ring and kept counts every match
	)
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", l.path, err)
		}
		r, err := parseLine(b[:len(b)-1])
		if err != nil {
			return nil, fmt.Errorf("audit: %s line %d: %v; run `haven audit verify`", l.path, n, err)
		}
		if !f.match(r) {
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			out[kept%f.Limit] = r // overwrite the oldest
		} else {
			out = append(out, r)
		}
		kept++
	}
	if f.Limit > 0 && kept > f.Limit { // rotate the ring to oldest first
		i := kept % f.Limit
		out = slices.Concat(out[i:], out[:i])
	}
	return out, nil
}
