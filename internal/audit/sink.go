package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives every record once it is durable in the local file: a copy
// kept where whoever can write the data directory cannot reach (a SIEM's
// webhook, syslog on another host). Sinks are best-effort: the local file
// is the one that fails closed. Each sink has its own bounded queue and
// goroutine, so a slow or dead sink never delays Append; records are sent
// one at a time in order, each retried with backoff until it is accepted,
// and a record that finds the queue full is dropped, counted and logged.
// The receiver sees a gap in the sequence numbers where records were
// dropped, and may see a record twice after a retry: it should keep the
// highest Seq it has and ignore repeats.
type Sink interface {
	// Name says which sink this is, for logs; it holds no credentials.
	Name() string
	// Send delivers one record; line is its JSON, exactly as in the file.
	// An error means "try again later".
	Send(ctx context.Context, r Record, line []byte) error
	// Close releases the sink's connections.
	Close() error
}

// DefaultSinkQueue is how many records wait for a sink unless
// Options.SinkQueue says otherwise: at 1.5 KB a record, 15 MB at most,
// and hours of normal traffic while a receiver is down.
const DefaultSinkQueue = 10000

// sinkTimeout bounds one Send.
const sinkTimeout = 10 * time.Second

// DefaultSinkDrain bounds how long Close waits for queued records to go
// out unless Options.SinkDrain says otherwise.
const DefaultSinkDrain = 5 * time.Second

// Backoff between attempts at one record: doubling from sinkBackoffMin
// up to sinkBackoffMax.
const (
	sinkBackoffMin = 50 * time.Millisecond
	sinkBackoffMax = 10 * time.Second
)

// SinkStats is what one sink has done since Open.
type SinkStats struct {
	Name      string `json:"name"`
	Delivered uint64 `json:"delivered"` // records the sink accepted
	Failures  uint64 `json:"failures"`  // failed attempts (each retried)
	Dropped   uint64 `json:"dropped"`   // records never sent: the queue was full, or Close gave up
	Queued    int    `json:"queued"`    // records waiting now
}

type sinkItem struct {
	r    Record
	line []byte
}

// forwarder runs one sink: a bounded queue and the goroutine that empties
// it in order.
type forwarder struct {
	sink   Sink
	logger *slog.Logger
	q      chan sinkItem
	ctx    context.Context // cancelled when Close gives up draining
	cancel context.CancelFunc
	done   chan struct{}
	drain  time.Duration

	delivered, failures, dropped atomic.Uint64
}

func newForwarder(s Sink, queue int, drain time.Duration, logger *slog.Logger) *forwarder {
	ctx, cancel := context.WithCancel(context.Background())
	f := &forwarder{sink: s, logger: logger.With("sink", s.Name()), q: make(chan sinkItem, queue), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), drain: drain}
	go f.run()
	return f
}

// offer queues a record without ever blocking.
func (f *forwarder) offer(it sinkItem) {
	select {
	case f.q <- it:
	default:
		if n := f.dropped.Add(1); n == 1 || n%1000 == 0 {
			f.logger.Error("audit sink queue full: record dropped (the receiver sees a gap in seq)", "seq", it.r.Seq, "dropped_so_far", n, "queue", cap(f.q))
		}
	}
}

func (f *forwarder) run() {
	defer close(f.done)
	for it := range f.q {
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(f.ctx, sinkTimeout)
			err := f.sink.Send(ctx, it.r, it.line)
			cancel()
			if err == nil {
				f.delivered.Add(1)
				if attempt > 0 {
					f.logger.Info("audit sink delivering again", "seq", it.r.Seq, "after_attempts", attempt+1)
				}
				break
			}
			f.failures.Add(1)
			if attempt == 0 {
				f.logger.Warn("audit sink delivery failed; retrying with backoff", "seq", it.r.Seq, "err", err)
			}
			wait := min(sinkBackoffMin<<min(attempt, 20), sinkBackoffMax)
			select {
			case <-f.ctx.Done():
				f.giveUp(1)
				return
			case <-time.After(wait):
			}
		}
	}
}

// giveUp counts n records, and everything still queued, as dropped.
func (f *forwarder) giveUp(n int) {
	for range f.q {
		n++
	}
	if n > 0 {
		f.dropped.Add(uint64(n))
		f.logger.Error("audit sink closed with records undelivered", "records", n)
	}
}

// close stops taking records, waits up to its drain time for the queue to
// empty, then abandons the rest.
func (f *forwarder) close() error {
	close(f.q)
	select {
	case <-f.done:
	case <-time.After(f.drain):
		f.cancel()
		<-f.done
	}
	f.cancel()
	return f.sink.Close()
}

func (f *forwarder) stats() SinkStats {
	return SinkStats{Name: f.sink.Name(), Delivered: f.delivered.Load(), Failures: f.failures.Load(), Dropped: f.dropped.Load(), Queued: len(f.q)}
}

// ParseSink makes a sink from its command-line form: an http:// or
// https:// URL is a webhook, tcp://HOST:PORT or udp://HOST:PORT a syslog
// receiver.
func ParseSink(spec string) (Sink, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("audit sink %q: want an https:// URL (webhook) or tcp://HOST:PORT or udp://HOST:PORT (syslog)", redact(spec))
	}
	switch u.Scheme {
	case "http", "https":
		return NewWebhookSink(spec)
	case "tcp", "udp":
		return NewSyslogSink(spec)
	}
	return nil, fmt.Errorf("audit sink %q: unknown scheme %q; want https:// (webhook), tcp:// or udp:// (syslog)", redact(spec), u.Scheme)
}

// redact drops a URL's user info and query, which may hold credentials.
func redact(spec string) string {
	u, err := url.Parse(spec)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// webhookSink POSTs each record's JSON to a URL.
type webhookSink struct {
	url, name string
	client    *http.Client
}

// NewWebhookSink returns a sink that POSTs each record, as its JSON line
// with Content-Type application/json, to rawURL; any 2xx answer accepts
// it, anything else is retried. The record's Seq is also in the header
// X-Haven-Audit-Seq.
func NewWebhookSink(rawURL string) (Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit webhook %q: want an http:// or https:// URL, for example https://siem.example.com/haven", redact(rawURL))
	}
	return &webhookSink{url: rawURL, name: "webhook " + redact(rawURL), client: &http.Client{Timeout: sinkTimeout}}, nil
}

func (w *webhookSink) Name() string { return w.name }

func (w *webhookSink) Send(ctx context.Context, r Record, line []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(line))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Haven-Audit-Seq", strconv.FormatUint(r.Seq, 10))
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold credentials
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

func (w *webhookSink) Close() error {
	w.client.CloseIdleConnections()
	return nil
}

// syslogSink sends each record as an RFC 5424 message.
type syslogSink struct {
	network, addr, name, hostname string

	mu   sync.Mutex
	conn net.Conn
	dead chan struct{} // closed when the receiver ends conn
}

// syslogPRI is facility 13 ("log audit") at severity 5 (notice).
const syslogPRI = "<109>"

// NewSyslogSink returns a sink that sends each record to a syslog
// receiver at tcp://HOST:PORT (RFC 6587 octet-counting framing, one
// connection, redialled after an error or when the receiver closes it) or
// udp://HOST:PORT (one datagram per record) as an RFC 5424 message:
//
//	<109>1 2026-12-01T12:03:00.123456Z myhost haven - audit - {"seq":42,…}
//
// facility "log audit", severity notice, APP-NAME haven, MSGID audit, no
// structured data, and the record's JSON as the message.
//
// Syslog has no acknowledgements: over UDP a lost datagram is lost, and
// over TCP so is a record written in the instant the receiver drops the
// connection. Both show as a gap in Seq at the receiver; the webhook,
// which waits for a 2xx, is the sink for confirmed delivery.
func NewSyslogSink(spec string) (Sink, error) {
	u, err := url.Parse(spec)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Port() == "" || u.Path != "" {
		return nil, fmt.Errorf("audit syslog %q: want tcp://HOST:PORT or udp://HOST:PORT, for example tcp://logs.example.com:514", redact(spec))
	}
	host, err := os.Hostname()
	if err != nil || host == "" || strings.ContainsAny(host, " \t\n") {
		host = "-"
	}
	return &syslogSink{network: u.Scheme, addr: u.Host, name: "syslog " + u.Scheme + "://" + u.Host, hostname: clip(host, 255)}, nil
}

func (s *syslogSink) Name() string { return s.name }

// message formats r as RFC 5424; the time has at most microseconds, as
// the RFC allows.
func (s *syslogSink) message(r Record, line []byte) []byte {
	b := make([]byte, 0, len(line)+96)
	b = append(b, syslogPRI+"1 "...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, s.hostname...)
	b = append(b, " haven - audit - "...)
	return append(b, line...)
}

func (s *syslogSink) Send(ctx context.Context, r Record, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		select {
		case <-s.dead: // the receiver hung up: writing would vanish
			s.conn.Close()
			s.conn = nil
		default:
		}
	}
	if s.conn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, s.network, s.addr)
		if err != nil {
			return err
		}
		s.conn, s.dead = c, make(chan struct{})
		if s.network == "tcp" {
			// A syslog receiver never writes; a read that returns means it
			// closed the connection, which a write would not notice until
			// records were lost in the kernel's buffer.
			go func(c net.Conn, dead chan struct{}) {
				_, _ = c.Read(make([]byte, 1))
				close(dead)
			}(c, s.dead)
		}
	}
	msg := s.message(r, line)
	if s.network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	deadline, _ := ctx.Deadline()
	_ = s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(msg); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

func (s *syslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
