package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/haven-platform/haven/internal/atomicfile"
)

// Snapshot file format, one file per tier (tier0.snap, tier1.snap, …),
// little-endian:
//
//	magic "HVNMTRC\n" | version u32 | tier u32 | step ns i64 | slots u32 |
//	page size u32 | written at (unix ns) i64 | series count u32 |
//	series… | CRC-32C u32 of everything before it
//
// and each series:
//
//	name: uvarint length, bytes | label count: uvarint |
//	per label: key, value (uvarint length, bytes) |
//	last sample: time i64, value f64 | head bucket i64 | head sum f64 |
//	head count u32 | page count: uvarint | per page: index uvarint, values f32…
//
// Only pages holding data are written, so the file is as sparse as memory.
// The head bucket's running sum and count are kept so that a restart in the
// middle of a minute still averages that minute right.
const (
	fileMagic   = "HVNMTRC\n"
	fileVersion = 1
	headerBytes = 8 + 4 + 4 + 8 + 4 + 4 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func tierFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("tier%d.snap", i))
}

// maxFileBytes bounds one tier's file with n series of the largest identity
// and every slot full.
func maxFileBytes(ti tierInfo, n int) int64 {
	pages := (ti.slots + pageSize - 1) / pageSize
	// Identity: the key's bytes plus at most two 2-byte length prefixes per
	// string, which is below twice the key; fixed fields; page indexes.
	per := int64(2*MaxKeyBytes+4) + 8 + 8 + 8 + 8 + 4 + binary.MaxVarintLen64 + pages*binary.MaxVarintLen64 + ti.slots*4
	return headerBytes + 4 + int64(n)*per
}

// Snapshot writes every tier's rings to Dir, each file atomically (a crash
// leaves the previous snapshot or this one, never a mix). It first frees
// what has expired. The periodic snapshot and Close call it; a store
// without Dir does nothing.
//
// Memory: one tier's file is encoded at a time, so a snapshot briefly
// needs the size of the largest tier's file on top of the store.
func (s *Store) Snapshot() error {
	if s.dir == "" {
		return nil
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	now := s.now()
	s.sweep(now.UnixNano())
	s.mu.Unlock()

	var total int64
	var errs []error
	for i := range s.tiers {
		s.mu.RLock()
		data := s.encodeTier(i, now)
		s.mu.RUnlock()
		if err := atomicfile.WriteFile(tierFile(s.dir, i), data, 0o600); err != nil {
			errs = append(errs, fmt.Errorf("metrics snapshot tier %d: %w", i, err))
			if fi, err := os.Stat(tierFile(s.dir, i)); err == nil {
				total += fi.Size() // the previous snapshot still stands
			}
			continue
		}
		total += int64(len(data))
	}
	s.mu.Lock()
	s.diskBytes = total
	if len(errs) == 0 {
		s.lastSnapshot = now
	}
	s.mu.Unlock()
	return errors.Join(errs...)
}

// encodeTier serializes tier i; the caller holds s.mu for reading.
func (s *Store) encodeTier(i int, now time.Time) []byte {
	ti := s.tiers[i]
	le := binary.LittleEndian
	b := make([]byte, 0, headerBytes+len(s.series)*64)
	b = append(b, fileMagic...)
	b = le.AppendUint32(b, fileVersion)
	b = le.AppendUint32(b, uint32(i))
	b = le.AppendUint64(b, uint64(ti.step))
	b = le.AppendUint32(b, uint32(ti.slots))
	b = le.AppendUint32(b, pageSize)
	b = le.AppendUint64(b, uint64(now.UnixNano()))
	b = le.AppendUint32(b, uint32(len(s.series)))
	for _, sr := range s.series {
		b = appendString(b, sr.name)
		b = binary.AppendUvarint(b, uint64(len(sr.labels)))
		for k, v := range sr.labels {
			b = appendString(b, k)
			b = appendString(b, v)
		}
		r := &sr.rings[i]
		b = le.AppendUint64(b, uint64(sr.lastT))
		b = le.AppendUint64(b, math.Float64bits(sr.lastV))
		b = le.AppendUint64(b, uint64(r.head))
		b = le.AppendUint64(b, math.Float64bits(r.sum))
		b = le.AppendUint32(b, r.n)
		b = binary.AppendUvarint(b, uint64(r.allocated()))
		for pi, p := range r.pages {
			if p == nil {
				continue
			}
			b = binary.AppendUvarint(b, uint64(pi))
			for _, v := range p.vals {
				b = le.AppendUint32(b, math.Float32bits(v))
			}
		}
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// loaded is one series read from a tier file, before it joins the store.
type loaded struct {
	name   string
	labels Labels
	lastT  int64
	lastV  float64
	ring   ring
}

// load reads every tier file; the caller is Open, before any other use.
func (s *Store) load() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for i := range s.tiers {
		path := tierFile(s.dir, i)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		list, err := s.decodeTier(i, data)
		if err != nil {
			// Losing a tier's history beats refusing to start the server;
			// the next snapshot overwrites the file.
			s.skippedFiles++
			s.log.Warn("metrics snapshot skipped; its tier starts empty", "file", path, "err", err)
			continue
		}
		s.diskBytes += int64(len(data))
		for _, l := range list {
			var kb [256]byte
			key, ok := appendKey(kb[:0], l.name, l.labels)
			if !ok {
				continue
			}
			sr := s.series[string(key)]
			if sr == nil {
				if len(s.series) >= s.maxSeries {
					s.refusedMax++
					continue
				}
				sr = s.newSeries(string(key), l.name, l.labels)
			}
			sr.rings[i] = l.ring
			if l.lastT > sr.lastT {
				sr.lastT, sr.lastV = l.lastT, l.lastV
			}
		}
	}
	return nil
}

var errCorrupt = errors.New("corrupt snapshot")

// decodeTier parses a tier file completely before anything is kept, so a
// bad file leaves no half-loaded series behind.
func (s *Store) decodeTier(i int, data []byte) ([]loaded, error) {
	ti := s.tiers[i]
	le := binary.LittleEndian
	if len(data) < headerBytes+4 || string(data[:8]) != fileMagic {
		return nil, fmt.Errorf("%w: not a metrics snapshot", errCorrupt)
	}
	body, sum := data[:len(data)-4], le.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	if v := le.Uint32(data[8:]); v != fileVersion {
		return nil, fmt.Errorf("version %d, this Haven reads %d", v, fileVersion)
	}
	if t, step, slots, ps := le.Uint32(data[12:]), int64(le.Uint64(data[16:])), int64(le.Uint32(data[24:])), le.Uint32(data[28:]); t != uint32(i) || step != ti.step || slots != ti.slots || ps != pageSize {
		return nil, fmt.Errorf("written for tier %d step %v × %d slots (page %d); configured tier %d is step %v × %d slots", t, time.Duration(step), slots, ps, i, ti.Step, ti.slots)
	}
	n := le.Uint32(data[40:])
	d := decoder{b: body[headerBytes:]}
	npages := uint64(len(newRing(ti.slots).pages))
	var out []loaded
	for range n {
		var l loaded
		l.name = d.str()
		nl := d.uvarint()
		if nl > MaxLabels {
			return nil, fmt.Errorf("%w: %d labels", errCorrupt, nl)
		}
		l.labels = make(Labels, nl)
		for range nl {
			k := d.str()
			l.labels[k] = d.str()
		}
		l.lastT = int64(d.u64())
		l.lastV = math.Float64frombits(d.u64())
		l.ring = newRing(ti.slots)
		l.ring.head = int64(d.u64())
		l.ring.sum = math.Float64frombits(d.u64())
		l.ring.n = d.u32()
		np := d.uvarint()
		if np > npages {
			return nil, fmt.Errorf("%w: %d pages", errCorrupt, np)
		}
		for range np {
			pi := d.uvarint()
			if pi >= npages || l.ring.pages[pi] != nil {
				return nil, fmt.Errorf("%w: page %d", errCorrupt, pi)
			}
			p := newPage(ti.slots, int64(pi))
			for j := range p.vals {
				p.vals[j] = math.Float32frombits(d.u32())
				if !isNaN32(p.vals[j]) {
					p.n++
				}
			}
			if p.n > 0 {
				l.ring.pages[pi] = p
			}
		}
		if d.err != nil {
			return nil, d.err
		}
		out = append(out, l)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return out, nil
}

// decoder reads fields, remembering the first overrun instead of panicking.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n uint64) []byte {
	if d.err != nil || uint64(len(d.b)) < n {
		if d.err == nil {
			d.err = fmt.Errorf("%w: truncated", errCorrupt)
		}
		return make([]byte, min(n, 8)) // zeros; the caller checks d.err
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > MaxKeyBytes {
		if d.err == nil {
			d.err = fmt.Errorf("%w: string of %d bytes", errCorrupt, n)
		}
		return ""
	}
	return string(d.take(n))
}
