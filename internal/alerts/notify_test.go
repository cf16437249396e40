package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func firing() Notification {
	a := Alert{
		Rule: "cpu-high", State: StateFiring, Value: 0.93, Severity: SeverityWarning,
		Labels:      map[string]string{"app": "mall", "env": "prod", "service": "api", "team": "web"},
		ActiveSince: t0, FiredAt: t0.Add(5 * time.Minute), NotifiedAt: t0.Add(5 * time.Minute),
	}
	return Notification{Alert: a, Kind: KindFiring}
}

// fastOpts keep retry tests quick: 10ms, 20ms, 40ms … between attempts.
func fastOpts() DispatcherOptions {
	return DispatcherOptions{Backoff: 10 * time.Millisecond, MaxAttempts: 5, AttemptTimeout: 2 * time.Second}
}

// waitFinal waits until the dispatcher has recorded n final deliveries.
func waitFinal(t *testing.T, d *Dispatcher, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := d.Deliveries()
		final := 0
		for _, r := range ds {
			if r.Final {
				final++
			}
		}
		if final >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %d final deliveries; have %+v", n, ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedAddr is a TCP address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWebhook(t *testing.T) {
	var got WebhookPayload
	var raw map[string]any
	var ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("body: %v", err)
		}
		_ = json.Unmarshal(b, &raw)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	w := &Webhook{URL: srv.URL + "/services/T000/B000/secret-token"}
	if err := w.Notify(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
	if ctype != "application/json" {
		t.Errorf("Content-Type %q", ctype)
	}
	if got.Text != "[FIRING] cpu-high mall/prod/api" {
		t.Errorf("Slack text %q", got.Text)
	}
	if _, ok := raw["text"].(string); !ok {
		t.Errorf(`no "text" string in %v`, raw)
	}
	if len(got.Attachments) != 1 || got.Attachments[0].Color != "warning" || !strings.Contains(got.Attachments[0].Text, "team=web") {
		t.Errorf("attachments %+v", got.Attachments)
	}
	if got.Kind != KindFiring || got.Alert.Rule != "cpu-high" || got.Alert.Labels["service"] != "api" || !got.Alert.FiredAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("alert %+v", got.Alert)
	}
	if w.Target() != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("target %q should be the host only", w.Target())
	}

	// A resolution is green and says so.
	n := firing()
	n.Kind, n.Alert.State, n.Alert.ResolvedAt = KindResolved, StateResolved, t0.Add(time.Hour)
	if err := w.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got.Text != "[RESOLVED] cpu-high mall/prod/api" || got.Attachments[0].Color != "good" {
		t.Errorf("resolved: %q %q", got.Text, got.Attachments[0].Color)
	}
}

func TestWebhookErrorsHideTheURL(t *testing.T) {
	w := &Webhook{URL: "http://" + closedAddr(t) + "/hooks/secret-token"}
	err := w.Notify(context.Background(), firing())
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("err = %v; want an error without the URL's path", err)
	}
}

func TestDispatcherRetriesUntilDelivered(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	var hooked []Delivery
	var mu sync.Mutex
	opts := fastOpts()
	opts.OnDelivery = func(d Delivery) { mu.Lock(); hooked = append(hooked, d); mu.Unlock() }
	d := NewDispatcher([]Notifier{&Webhook{URL: srv.URL}}, opts)
	defer d.Close()
	if err := d.Notify(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
	ds := waitFinal(t, d, 1)
	if len(ds) != 3 {
		t.Fatalf("want 3 attempts, got %+v", ds)
	}
	for i, r := range ds {
		if r.Attempt != i+1 || r.Kind != KindFiring || r.Alert.Rule != "cpu-high" || r.Target != w(srv.URL) || r.Time.IsZero() {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if ds[0].OK || !strings.Contains(ds[0].Error, "503") || ds[1].OK || !ds[2].OK || !ds[2].Final || ds[2].Error != "" {
		t.Errorf("records: %+v", ds)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 3 {
		t.Errorf("OnDelivery saw %d records, want 3", len(hooked))
	}
}

func w(u string) string { return strings.TrimPrefix(u, "http://") }

func TestDispatcherUnreachableWebhook(t *testing.T) {
	addr := closedAddr(t)
	d := NewDispatcher([]Notifier{&Webhook{URL: "http://" + addr + "/hook"}}, fastOpts())
	defer d.Close()
	start := time.Now()
	if err := d.Notify(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
	ds := waitFinal(t, d, 1)
	if len(ds) != 5 {
		t.Fatalf("want 5 attempts, got %+v", ds)
	}
	for i, r := range ds {
		if r.OK || r.Attempt != i+1 || r.Error == "" || r.Target != addr || r.Final != (i == 4) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	// 10+20+40+80ms of backoff between the five attempts.
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("5 attempts took %s; the backoff was not applied", el)
	}
}

func TestDispatcherStopsOnPermanentFailure(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer srv.Close()
	d := NewDispatcher([]Notifier{&Webhook{URL: srv.URL}}, fastOpts())
	defer d.Close()
	_ = d.Notify(context.Background(), firing())
	ds := waitFinal(t, d, 1)
	if len(ds) != 1 || calls.Load() != 1 || !strings.Contains(ds[0].Error, "404") {
		t.Fatalf("a 404 is not worth retrying: %d calls, %+v", calls.Load(), ds)
	}
}

// TestDispatcherNeverBlocks: with the webhook hanging, the caller's Notify
// still returns at once, the overflow is dropped and counted, the other
// notifier still delivers, and Close does not wait for the hung target.
func TestDispatcherNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release) // runs before hung.Close, which waits for handlers

	var okCalls atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { okCalls.Add(1) }))
	defer ok.Close()

	opts := fastOpts()
	opts.QueueSize = 4
	opts.AttemptTimeout = time.Minute
	d := NewDispatcher([]Notifier{&Webhook{URL: hung.URL}, &Webhook{URL: ok.URL}}, opts)

	var slowest time.Duration
	var full int
	for range 50 {
		start := time.Now()
		err := d.Notify(context.Background(), firing())
		slowest = max(slowest, time.Since(start))
		if errors.Is(err, ErrQueueFull) {
			full++
			if !strings.Contains(err.Error(), w(hung.URL)) || strings.Contains(err.Error(), w(ok.URL)) {
				t.Errorf("queue-full error should name only the hung target: %v", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // lets the healthy target keep up
	}
	if slowest > 50*time.Millisecond {
		t.Errorf("Notify took up to %s with a hung target; it must not block", slowest)
	}
	// One in flight plus 4 queued for the hung target; the rest dropped.
	if full < 40 || d.Dropped() != int64(full) {
		t.Errorf("dropped %d (%d errors), want at least 40", d.Dropped(), full)
	}
	deadline := time.Now().Add(5 * time.Second)
	for okCalls.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if okCalls.Load() != 50 {
		t.Errorf("the healthy target got %d of 50 notifications", okCalls.Load())
	}

	start := time.Now()
	d.Close()
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %s with a hung target", el)
	}
	if err := d.Notify(context.Background(), firing()); !errors.Is(err, ErrClosed) {
		t.Errorf("Notify after Close = %v", err)
	}
}

func TestDispatcherKeepsBoundedRecord(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	opts := fastOpts()
	opts.KeepDeliveries = 3
	d := NewDispatcher([]Notifier{&Webhook{URL: srv.URL}}, opts)
	defer d.Close()
	for i := range 5 {
		n := firing()
		n.Alert.Value = float64(i)
		_ = d.Notify(context.Background(), n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := d.Deliveries()
		if len(ds) == 3 && ds[2].Alert.Value == 4 {
			if ds[0].Alert.Value != 2 {
				t.Fatalf("kept %+v, want the newest 3", ds)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v", ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// smtpBackend is a real SMTP server's backend (emersion/go-smtp) that keeps
// every message it receives.
type smtpBackend struct {
	user, pass string // when set, PLAIN auth is required
	mu         sync.Mutex
	msgs       []received
}

type received struct {
	from string
	to   []string
	data []byte
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

func (b *smtpBackend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type smtpSession struct {
	b      *smtpBackend
	authed bool
	cur    received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = received{from: from}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = received{} }
func (s *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T, be *smtpBackend) string {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // PLAIN over plain TCP on 127.0.0.1, as net/smtp allows
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestEmail(t *testing.T) {
	be := &smtpBackend{}
	addr := startSMTP(t, be)
	e := &Email{Addr: addr, From: "haven@example.com", To: []string{"ops@example.com", "dev@example.com"}}
	d := NewDispatcher([]Notifier{e}, fastOpts())
	defer d.Close()
	if err := d.Notify(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
	ds := waitFinal(t, d, 1)
	if len(ds) != 1 || !ds[0].OK || ds[0].Target != addr {
		t.Fatalf("deliveries %+v", ds)
	}

	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages", len(msgs))
	}
	m := msgs[0]
	if m.from != "haven@example.com" || strings.Join(m.to, ",") != "ops@example.com,dev@example.com" {
		t.Errorf("envelope from %q to %q", m.from, m.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, m.data)
	}
	if s := msg.Header.Get("Subject"); s != "[FIRING] cpu-high mall/prod/api" {
		t.Errorf("subject %q", s)
	}
	if to := msg.Header.Get("To"); to != "ops@example.com, dev@example.com" {
		t.Errorf("To %q", to)
	}
	if date, err := msg.Header.Date(); err != nil || !date.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("Date %v, %v", date, err)
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{"Alert:    cpu-high", "Severity: warning", "Value:    0.93", "team=web", "Fired at: 2025-03-01T12:05:00Z"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailHeaderInjection(t *testing.T) {
	be := &smtpBackend{}
	addr := startSMTP(t, be)
	n := firing()
	n.Alert.Labels["service"] = "api\r\nBcc: victim@example.com"
	e := &Email{Addr: addr, From: "haven@example.com", To: []string{"ops@example.com"}}
	if err := e.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(be.messages()[0].data)))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Fatalf("a label injected a header: %v", msg.Header)
	}
}

func TestEmailAuth(t *testing.T) {
	be := &smtpBackend{user: "haven", pass: "s3cret-pa55"}
	addr := startSMTP(t, be)
	e := &Email{Addr: addr, From: "haven@example.com", To: []string{"ops@example.com"}, Username: "haven", Password: "s3cret-pa55"}
	if err := e.Notify(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
	if len(be.messages()) != 1 {
		t.Fatal("authenticated mail not received")
	}

	// A wrong password fails at once (retrying cannot help) and the record
	// carries neither password.
	e.Password = "wr0ng-pa55"
	d := NewDispatcher([]Notifier{e}, fastOpts())
	defer d.Close()
	_ = d.Notify(context.Background(), firing())
	ds := waitFinal(t, d, 1)
	if len(ds) != 1 || ds[0].OK {
		t.Fatalf("deliveries %+v", ds)
	}
	rec, _ := json.Marshal(ds)
	if strings.Contains(string(rec), "pa55") {
		t.Fatalf("a password leaked into the delivery record: %s", rec)
	}
}

func TestEmailServerDown(t *testing.T) {
	addr := closedAddr(t)
	d := NewDispatcher([]Notifier{&Email{Addr: addr, From: "haven@example.com", To: []string{"ops@example.com"}}}, fastOpts())
	defer d.Close()
	start := time.Now()
	if err := d.Notify(context.Background(), firing()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 20*time.Millisecond {
		t.Errorf("Notify took %s", el)
	}
	ds := waitFinal(t, d, 1)
	if len(ds) != 5 {
		t.Fatalf("want 5 attempts, got %+v", ds)
	}
	last := ds[4]
	if last.OK || !last.Final || last.Attempt != 5 || last.Target != addr || !strings.Contains(last.Error, "refused") {
		t.Errorf("last record %+v", last)
	}
}

// TestEmailServerHangs: a server that accepts and never greets costs one
// attempt timeout, not a stuck worker.
func TestEmailServerHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	e := &Email{Addr: l.Addr().String(), From: "a@example.com", To: []string{"b@example.com"}, Timeout: 200 * time.Millisecond}
	start := time.Now()
	err = e.Notify(context.Background(), firing())
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}
