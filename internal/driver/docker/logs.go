package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/haven-platform/haven/internal/driver"
)

// Logs reads the container's log through the Engine (json-file or any driver
// that supports reading), with timestamps, and calls fn per line. Follow
// ends when ctx ends or the container stops: Haven never restarts a
// container, so a stopped one writes no more.
func (d *Driver) Logs(ctx context.Context, id string, opts driver.LogOptions, fn func(driver.LogLine) error) error {
	o := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: opts.Follow, Tail: "all"}
	if opts.Tail > 0 {
		o.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		o.Since = opts.Since.Format(time.RFC3339Nano)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A container with a TTY (tty: true) has one raw stream, not the
	// multiplexed frames readLog expects.
	read := readLog
	if c, err := d.cli.ContainerInspect(ctx, id); err != nil {
		return notFound("logs", id, err)
	} else if c.Config != nil && c.Config.Tty {
		read = readTTYLog
	}
	rc, err := d.cli.ContainerLogs(ctx, id, o)
	if err != nil {
		return notFound("logs", id, err)
	}
	defer rc.Close()
	var fnErr error
	err = read(rc, func(l driver.LogLine) error {
		// The Engine filters on Since too, but only to the precision its
		// log driver keeps; this makes the boundary exact.
		if !opts.Since.IsZero() && l.Time.Before(opts.Since) {
			return nil
		}
		fnErr = fn(l)
		return fnErr
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil && ctx.Err() != nil:
		return nil // the caller ended a follow; the read failed only because of that
	case err != nil:
		return fmt.Errorf("logs %s: %w", id, err)
	}
	return nil
}

// readLog demultiplexes the Engine's log stream for a container without a
// TTY: frames of an 8-byte header (stream byte, three zero bytes, big-endian
// payload size) and a payload. A line may be split over frames, so each
// stream keeps its partial line until the newline arrives.
func readLog(r io.Reader, fn func(driver.LogLine) error) error {
	br := bufio.NewReaderSize(r, 32*1024)
	partial := map[string][]byte{}
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		stream := "stdout"
		if hdr[0] == 2 {
			stream = "stderr"
		}
		payload := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.ReadFull(br, payload); err != nil {
			return err
		}
		buf := append(partial[stream], payload...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			if err := fn(logLine(stream, buf[:i])); err != nil {
				return err
			}
			buf = buf[i+1:]
		}
		partial[stream] = buf
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if len(partial[stream]) > 0 {
			if err := fn(logLine(stream, partial[stream])); err != nil {
				return err
			}
		}
	}
	return nil
}

// readTTYLog reads the log of a container with a TTY: one stream of
// lines (stdout and stderr merged by the terminal, so all are "stdout"),
// each ended by "\r\n" or "\n".
func readTTYLog(r io.Reader, fn func(driver.LogLine) error) error {
	br := bufio.NewReaderSize(r, 32*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if ferr := fn(logLine("stdout", bytes.TrimSuffix(line, []byte("\n")))); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// logLine splits "<RFC 3339 timestamp> <text>" as the Engine writes it with
// Timestamps set.
func logLine(stream string, b []byte) driver.LogLine {
	l := driver.LogLine{Stream: stream, Text: string(bytes.TrimSuffix(b, []byte("\r")))}
	if ts, text, ok := bytes.Cut(b, []byte(" ")); ok {
		if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil {
			l.Time, l.Text = t, string(bytes.TrimSuffix(text, []byte("\r")))
		}
	}
	return l
}
