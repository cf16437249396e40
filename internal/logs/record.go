package logs

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"strings"
	"unicode/utf8"
)

// recordHeader is the length and CRC in front of every record's payload.
const recordHeader = 8

const (
	flagTruncated = 1 << iota
	flagBinary
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends l as one record to buf.
func appendRecord(buf []byte, l *Line) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(l.Time.UnixNano()))
	var flags byte
	if l.Truncated {
		flags |= flagTruncated
	}
	if l.Binary {
		flags |= flagBinary
	}
	buf = append(buf, flags)
	buf = appendString(buf, l.Instance)
	buf = appendString(buf, l.Stream)
	buf = appendString(buf, l.Text)
	buf = binary.AppendUvarint(buf, uint64(len(l.Fields)))
	for k, v := range l.Fields {
		buf = appendString(buf, k)
		buf = appendString(buf, v)
	}
	payload := buf[start+recordHeader:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// rawRecord is a decoded record whose byte slices still point into the
// segment buffer: filters run on it before anything is copied.
type rawRecord struct {
	time     int64
	flags    byte
	instance []byte
	stream   []byte
	text     []byte
	nfields  uint64
	fields   []byte
}

// readRecord decodes the record at the start of b. ok is false when b holds
// no whole, intact record there: a torn write, garbage, or the end.
func readRecord(b []byte) (r rawRecord, n int, ok bool) {
	if len(b) < recordHeader {
		return r, 0, false
	}
	size := uint64(binary.LittleEndian.Uint32(b))
	if size > uint64(len(b)-recordHeader) || size < 9 {
		return r, 0, false
	}
	payload := b[recordHeader : recordHeader+size]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return r, 0, false
	}
	r.time = int64(binary.LittleEndian.Uint64(payload))
	r.flags = payload[8]
	p := payload[9:]
	var okI, okS, okT bool
	if r.instance, p, okI = readBytes(p); !okI {
		return r, 0, false
	}
	if r.stream, p, okS = readBytes(p); !okS {
		return r, 0, false
	}
	if r.text, p, okT = readBytes(p); !okT {
		return r, 0, false
	}
	nf, m := binary.Uvarint(p)
	if m <= 0 {
		return r, 0, false
	}
	r.nfields, r.fields = nf, p[m:]
	return r, recordHeader + int(size), true
}

func readBytes(p []byte) (s, rest []byte, ok bool) {
	n, m := binary.Uvarint(p)
	if m <= 0 || n > uint64(len(p)-m) {
		return nil, nil, false
	}
	return p[m : m+int(n)], p[m+int(n):], true
}

// decodeFields returns the record's fields (nil when it has none).
func (r *rawRecord) decodeFields() map[string]string {
	if r.nfields == 0 {
		return nil
	}
	// The count came from a CRC-checked record, but cap the allocation by
	// what the bytes can hold anyway.
	out := make(map[string]string, min(r.nfields, uint64(len(r.fields)/2)))
	p := r.fields
	for range r.nfields {
		k, rest, ok := readBytes(p)
		if !ok {
			break
		}
		v, rest, ok := readBytes(rest)
		if !ok {
			break
		}
		out[string(k)] = string(v)
		p = rest
	}
	return out
}

// field returns the value of one field without building the map, for the
// Fields filter.
func (r *rawRecord) field(key string) (string, bool) {
	p := r.fields
	for range r.nfields {
		k, rest, ok := readBytes(p)
		if !ok {
			return "", false
		}
		v, rest, ok := readBytes(rest)
		if !ok {
			return "", false
		}
		if string(k) == key {
			return string(v), true
		}
		p = rest
	}
	return "", false
}

// normalize makes l safe to store: a time, a bounded length, valid UTF-8
// without NULs, and fields parsed from a JSON object line.
func normalize(l *Line, now int64, maxLine int) {
	if l.Time.IsZero() {
		l.Time = unixTime(now)
	}
	if len(l.Text) > maxLine {
		l.Text = cut(l.Text, maxLine)
		l.Truncated = true
	}
	if !utf8.ValidString(l.Text) || strings.IndexByte(l.Text, 0) >= 0 {
		l.Text = escapeBinary(l.Text)
		l.Binary = true
		// Escaping can grow the text up to four times.
		if len(l.Text) > maxLine {
			l.Text = cut(l.Text, maxLine)
			l.Truncated = true
		}
	}
	if l.Fields == nil && !l.Truncated && !l.Binary {
		l.Fields = parseFields(l.Text)
	}
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence
// (looking back at most one sequence length, since s may not be UTF-8).
func cut(s string, n int) string {
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:n]
}

// escapeBinary replaces invalid UTF-8 bytes and NULs with \xNN, so the
// stored text is printable and JSON-safe and still shows what was written.
func escapeBinary(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == 0 {
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// parseFields returns the top-level string, number and boolean values of a
// line that is a JSON object; nested values and null are left out (they
// stay searchable with Grep). Numbers keep their text as written.
func parseFields(text string) map[string]string {
	t := strings.TrimSpace(text)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal([]byte(t), &raw) != nil {
		return nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if len(v) == 0 {
			continue
		}
		switch v[0] {
		case '"':
			var s string
			if json.Unmarshal(v, &s) == nil {
				out[k] = s
			}
		case 'n', '{', '[':
		default: // number, true, false
			out[k] = string(v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
