package metrics

import "math"

// pageSize is the number of slots allocated together. Rings are paged so
// that a series pays only for the part of its retention it has data in: a
// series one hour old holds one page of the week tier, not 10080 slots, and
// a dead instance's pages are freed as they age out.
const pageSize = 256

// noBucket marks a ring that was never written.
const noBucket = math.MinInt64

// page holds up to pageSize slots; NaN is an empty slot.
type page struct {
	vals []float32
	n    int // non-empty slots, so an emptied page is freed without a scan
}

// ring is one series' history in one tier: slot b mod slots holds the
// average of the samples in bucket b (bucket = time / step). It keeps the
// running sum and count of its newest bucket only, so that bucket can be
// averaged exactly as samples arrive; older buckets are final.
type ring struct {
	pages []*page
	head  int64   // newest bucket appended, noBucket when none
	sum   float64 // of the samples in head
	n     uint32  // samples in head
}

func newRing(slots int64) ring {
	return ring{pages: make([]*page, (slots+pageSize-1)/pageSize), head: noBucket}
}

func slotOf(b, slots int64) int64 {
	i := b % slots
	if i < 0 {
		i += slots
	}
	return i
}

func isNaN32(v float32) bool { return v != v }

// add folds v into bucket b. It refuses (false) a bucket older than the
// newest one: its average was already final and its count is gone.
func (r *ring) add(slots, b int64, v float64) bool {
	switch {
	case r.head != noBucket && b < r.head:
		return false
	case b == r.head:
		r.sum += v
		r.n++
	default:
		if r.head != noBucket {
			// Buckets skipped over still hold the previous lap's values.
			r.clear(slots, r.head+1, b-1)
		}
		r.head, r.sum, r.n = b, v, 1
	}
	r.set(slots, b, float32(r.sum/float64(r.n)))
	return true
}

func (r *ring) get(slots, b int64) float32 {
	i := slotOf(b, slots)
	p := r.pages[i/pageSize]
	if p == nil {
		return float32(math.NaN())
	}
	return p.vals[i%pageSize]
}

func (r *ring) set(slots, b int64, v float32) {
	i := slotOf(b, slots)
	pi := i / pageSize
	p := r.pages[pi]
	if p == nil {
		if isNaN32(v) {
			return
		}
		p = newPage(slots, pi)
		r.pages[pi] = p
	}
	j := i % pageSize
	was := !isNaN32(p.vals[j])
	now := !isNaN32(v)
	p.vals[j] = v
	switch {
	case was && !now:
		p.n--
		if p.n == 0 {
			r.pages[pi] = nil
		}
	case !was && now:
		p.n++
	}
}

// newPage allocates page pi; the last page of a ring is cut to the ring's
// length so memory is exactly slots × 4 bytes when full.
func newPage(slots, pi int64) *page {
	n := min(int64(pageSize), slots-pi*pageSize)
	p := &page{vals: make([]float32, n)}
	nan := float32(math.NaN())
	for i := range p.vals {
		p.vals[i] = nan
	}
	return p
}

// clear empties buckets lo..hi, a page at a time so that long stretches
// of unallocated pages cost one step each.
func (r *ring) clear(slots, lo, hi int64) {
	if hi < lo {
		return
	}
	if hi-lo+1 >= slots {
		for i := range r.pages {
			r.pages[i] = nil
		}
		return
	}
	nan := float32(math.NaN())
	for b := lo; b <= hi; {
		i := slotOf(b, slots)
		pi := i / pageSize
		end := min((pi+1)*pageSize, slots) // slots i..end-1 are contiguous buckets
		count := min(end-i, hi-b+1)
		if p := r.pages[pi]; p != nil {
			for k := i; k < i+count; k++ {
				r.set(slots, b+(k-i), nan)
				if r.pages[pi] == nil {
					break
				}
			}
		}
		b += count
	}
}

// expire empties the buckets that have left the retention window ending at
// bucket now, without moving head: a series that stopped being written
// still gives its memory back as its history ages out.
func (r *ring) expire(slots, now int64) {
	if r.head == noBucket || r.allocated() == 0 {
		return
	}
	lo := r.head - slots + 1
	hi := min(r.head, now-slots)
	r.clear(slots, lo, hi)
}

// allocated is the number of pages holding data.
func (r *ring) allocated() int {
	n := 0
	for _, p := range r.pages {
		if p != nil {
			n++
		}
	}
	return n
}

// bytes estimates the ring's memory: its page table and allocated pages.
func (r *ring) bytes() int64 {
	b := int64(ringOverhead) + int64(len(r.pages))*8
	for _, p := range r.pages {
		if p != nil {
			b += pageOverhead + int64(len(p.vals))*4
		}
	}
	return b
}

// Estimated fixed costs (struct sizes plus allocator slack).
const (
	ringOverhead = 48
	pageOverhead = 48
)
