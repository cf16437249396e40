package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/haven-platform/haven/internal/driver"
)

const (
	// copyInterval is how often the supervisor moves new output into the
	// log: the precision of line times, and the latency of Follow.
	copyInterval = 50 * time.Millisecond
	// maxLine bounds one log line; longer output is split.
	maxLine = 64 << 10
	// followInterval is how often Follow looks for new lines.
	followInterval = 100 * time.Millisecond
)

// stream is one raw output file the process writes.
type stream struct {
	tag  byte // 'O' stdout, 'E' stderr: the stream in the log
	f    *os.File
	read int64  // offset of the first byte not yet in the log
	buf  []byte // bytes after read: an incomplete line
}

// copier moves an instance's raw output into its timestamped log. Only the
// supervising Driver runs one per instance, so the log has one writer.
type copier struct {
	log     *os.File
	pos     *os.File
	streams [2]*stream
}

// openCopier resumes copying where the position file says the last
// supervisor stopped.
func openCopier(dir string) (*copier, error) {
	c := &copier{}
	var err error
	if c.pos, err = os.OpenFile(filepath.Join(dir, posFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	var pos [16]byte
	_, _ = c.pos.ReadAt(pos[:], 0) // short or missing: start from zero
	if c.log, err = os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
		c.close()
		return nil, err
	}
	for i, name := range []string{stdoutFile, stderrFile} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			c.close()
			return nil, err
		}
		s := &stream{tag: "OE"[i], f: f, read: int64(binary.LittleEndian.Uint64(pos[i*8:]))}
		c.streams[i] = s
		if _, err := f.Seek(s.read, io.SeekStart); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *copier) close() {
	for _, f := range []*os.File{c.log, c.pos} {
		if f != nil {
			f.Close()
		}
	}
	for _, s := range c.streams {
		if s != nil {
			s.f.Close()
		}
	}
}

// copy appends every complete new line to the log, stamped with the current
// time. final (the process is gone) also flushes an unterminated last line.
func (c *copier) copy(final bool) error {
	// Batches bound memory; a noisy instance takes several per call, so the
	// final drain leaves nothing behind.
	for {
		more, err := c.copyBatch(final)
		if err != nil || !more {
			return err
		}
	}
}

// batchSize is how much raw output of one stream copyBatch reads at most.
const batchSize = 4 * maxLine

// copyBatch copies up to batchSize of each stream and reports whether a
// stream has more.
func (c *copier) copyBatch(final bool) (more bool, err error) {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var out []byte
	chunk := make([]byte, 32<<10)
	for _, s := range c.streams {
		atEOF := false
		for {
			n, err := s.f.Read(chunk)
			s.buf = append(s.buf, chunk[:n]...)
			if err != nil || n == 0 {
				atEOF = true
				break
			}
			if len(s.buf) > batchSize {
				more = true
				break
			}
		}
		for len(s.buf) > 0 {
			line, n := s.buf, len(s.buf)
			if i := bytes.IndexByte(s.buf, '\n'); i >= 0 && i < maxLine {
				line, n = s.buf[:i], i+1
			} else if len(s.buf) >= maxLine {
				line, n = s.buf[:maxLine], maxLine
			} else if !final || !atEOF {
				break // the rest of the line is still to come
			}
			line = bytes.TrimSuffix(line, []byte("\r"))
			out = append(out, now...)
			out = append(out, ' ', s.tag, ' ')
			out = append(out, line...)
			out = append(out, '\n')
			s.read += int64(n)
			s.buf = s.buf[n:]
		}
		s.buf = append([]byte(nil), s.buf...) // drop the consumed prefix's memory
	}
	if len(out) == 0 {
		return more, nil
	}
	if _, err := c.log.Write(out); err != nil {
		return false, err
	}
	// Sixteen bytes in one write at offset 0: a crash leaves the old or the
	// new positions. A crash between the two writes repeats these lines.
	var pos [16]byte
	binary.LittleEndian.PutUint64(pos[0:], uint64(c.streams[0].read))
	binary.LittleEndian.PutUint64(pos[8:], uint64(c.streams[1].read))
	_, err = c.pos.WriteAt(pos[:], 0)
	return more, err
}

// parseLogLine reads one log entry: "<RFC 3339 time> <O|E> <text>".
func parseLogLine(b []byte) (driver.LogLine, bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 || len(b) < sp+3 || b[sp+2] != ' ' {
		return driver.LogLine{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil {
		return driver.LogLine{}, false
	}
	l := driver.LogLine{Time: t, Stream: "stdout", Text: string(b[sp+3:])}
	if b[sp+1] == 'E' {
		l.Stream = "stderr"
	}
	return l, true
}

// Logs implements driver.Driver. Lines come from the timestamped log, so
// the newest output shows up within copyInterval of being written.
func (d *Driver) Logs(ctx context.Context, id string, opts driver.LogOptions, fn func(driver.LogLine) error) error {
	dir, err := d.instanceDir(id)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(dir, logFile))
	if isGone(err) {
		return fmt.Errorf("logs of %s: %w", id, driver.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("logs of %s: %w", id, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)

	// Tail keeps only the last lines in a ring, so memory stays bounded
	// however long the log is.
	var ring []driver.LogLine
	next := 0
	var partial []byte
	for {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			partial = append(partial, b...)
			continue
		}
		if err != nil {
			partial = append(partial, b...) // an entry being written: Follow finishes it
			break
		}
		if len(partial) > 0 {
			b = append(partial, b...)
			partial = nil
		}
		l, ok := parseLogLine(b[:len(b)-1])
		if !ok || l.Time.Before(opts.Since) {
			continue
		}
		if opts.Tail <= 0 {
			if err := fn(l); err != nil {
				return err
			}
			continue
		}
		if len(ring) < opts.Tail {
			ring = append(ring, l)
		} else {
			ring[next] = l
			next = (next + 1) % opts.Tail
		}
	}
	for i := range ring {
		if err := fn(ring[(next+i)%len(ring)]); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}

	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := os.Stat(dir); isGone(err) {
			return nil // removed: nothing more will be written
		}
		for {
			b, err := r.ReadSlice('\n')
			partial = append(partial, b...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				break
			}
			l, ok := parseLogLine(partial[:len(partial)-1])
			partial = partial[:0]
			if !ok || l.Time.Before(opts.Since) {
				continue
			}
			if err := fn(l); err != nil {
				return err
			}
		}
	}
}
