package alerts

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Notifier delivers one notification, once. Retrying is the Dispatcher's
// job, so that every notifier gets the same policy and delivery record.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Targeter is implemented by notifiers that can name where they deliver,
// without secrets, for the delivery record.
type Targeter interface {
	Target() string
}

// PermanentError marks a failure that retrying cannot fix (a webhook
// answering 404, a refused recipient): the Dispatcher stops at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Subject is the one-line summary of a notification, used as the email
// subject and the Slack text: "[FIRING] cpu-high mall/prod/api".
func Subject(n Notification) string {
	tag := "FIRING"
	if n.Kind == KindResolved {
		tag = "RESOLVED"
	}
	return fmt.Sprintf("[%s] %s %s", tag, n.Alert.Rule, n.Alert.Series())
}

// Body is the plain-text description of a notification, for email and as
// the Slack attachment's text.
func Body(n Notification) string {
	a := n.Alert
	var b strings.Builder
	fmt.Fprintf(&b, "Alert:    %s\n", a.Rule)
	fmt.Fprintf(&b, "Series:   %s\n", a.Series())
	fmt.Fprintf(&b, "State:    %s (%s notification)\n", a.State, n.Kind)
	fmt.Fprintf(&b, "Severity: %s\n", a.Severity)
	fmt.Fprintf(&b, "Value:    %g\n", a.Value)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"Active since", a.ActiveSince}, {"Fired at", a.FiredAt}, {"Resolved at", a.ResolvedAt}} {
		if !t.at.IsZero() {
			fmt.Fprintf(&b, "%s: %s\n", t.name, t.at.UTC().Format(time.RFC3339))
		}
	}
	if len(a.Labels) > 0 {
		b.WriteString("Labels:\n")
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			fmt.Fprintf(&b, "  %s=%s\n", k, a.Labels[k])
		}
	}
	return b.String()
}

// Webhook posts notifications as JSON to a URL. The body is
// Slack-compatible (an incoming-webhook URL works as is: "text" and
// "attachments"), and carries the whole alert under "alert" for receivers
// that want structure. A 2xx answer means delivered.
type Webhook struct {
	// URL may carry a secret (Slack puts its token in the path), so it is
	// never written to the delivery record or to errors: Target gives the
	// host only.
	URL string
	// Client is the HTTP client to use; nil means one with a 10s timeout.
	Client *http.Client
}

// WebhookPayload is the JSON body a Webhook posts.
type WebhookPayload struct {
	Text        string            `json:"text"`
	Attachments []SlackAttachment `json:"attachments"`
	Kind        string            `json:"kind"`
	Alert       Alert             `json:"alert"`
}

// SlackAttachment is a Slack message attachment (the legacy format every
// Slack-compatible receiver, Mattermost and Rocket.Chat included, reads).
type SlackAttachment struct {
	Color    string       `json:"color"`
	Title    string       `json:"title"`
	Text     string       `json:"text"`
	Fallback string       `json:"fallback"`
	Fields   []SlackField `json:"fields,omitempty"`
	TS       int64        `json:"ts,omitempty"`
}

// SlackField is one short name/value pair of an attachment.
type SlackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// Target implements Targeter: the URL's host.
func (w *Webhook) Target() string {
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" {
		return "webhook"
	}
	return u.Host
}

// Notify implements Notifier: one POST.
func (w *Webhook) Notify(ctx context.Context, n Notification) error {
	subject := Subject(n)
	color := map[string]string{SeverityCritical: "danger", SeverityWarning: "warning"}[n.Alert.Severity]
	if n.Kind == KindResolved {
		color = "good"
	}
	if color == "" {
		color = "#439FE0"
	}
	at := n.Alert.FiredAt
	if n.Kind == KindResolved {
		at = n.Alert.ResolvedAt
	}
	var ts int64
	if !at.IsZero() {
		ts = at.Unix()
	}
	payload := WebhookPayload{
		Text: subject,
		Attachments: []SlackAttachment{{
			Color: color, Title: subject, Text: Body(n), Fallback: subject, TS: ts,
			Fields: []SlackField{
				{Title: "Severity", Value: n.Alert.Severity, Short: true},
				{Title: "Value", Value: fmt.Sprintf("%g", n.Alert.Value), Short: true},
			},
		}},
		Kind:  n.Kind,
		Alert: n.Alert,
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return &PermanentError{fmt.Errorf("encode webhook body: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{fmt.Errorf("webhook %s: bad URL", w.Target())}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "haven-alerts")
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL, secret included: keep the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", w.Target(), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("webhook %s: %s: %s", w.Target(), resp.Status, strings.TrimSpace(string(snippet)))
	// 4xx other than timeouts and rate limits will answer the same next time.
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return &PermanentError{err}
	}
	return err
}

// Email sends notifications as plain-text mail over SMTP (net/smtp), with
// STARTTLS when the server offers it.
type Email struct {
	// Addr is the SMTP server, host:port.
	Addr string
	From string
	To   []string
	// Username and Password, when set, authenticate with PLAIN, which
	// net/smtp only allows over TLS or to localhost. They are never logged
	// nor put in errors.
	Username, Password string
	// TLSConfig is used for STARTTLS; nil means one verifying Addr's host.
	TLSConfig *tls.Config
	// Timeout bounds the whole exchange when ctx has no deadline; zero
	// means 30s. A silent server must not hold a delivery worker forever.
	Timeout time.Duration
}

// Target implements Targeter: the SMTP address.
func (e *Email) Target() string { return e.Addr }

// Notify implements Notifier: one SMTP transaction to every recipient.
func (e *Email) Notify(ctx context.Context, n Notification) error {
	if len(e.To) == 0 {
		return &PermanentError{errors.New("email: no recipients")}
	}
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return &PermanentError{fmt.Errorf("email: bad address %q: %w", e.Addr, err)}
	}
	if _, ok := ctx.Deadline(); !ok {
		timeout := e.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("email %s: %w", e.Addr, err)
	}
	// net/smtp has no context: a deadline on the connection, and closing it
	// when ctx ends, keep a hung server from blocking us.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email %s: %w", e.Addr, err)
	}
	defer c.Close()
	if err := e.send(c, host, n); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("email %s: %w (%v)", e.Addr, ctx.Err(), err)
		}
		return fmt.Errorf("email %s: %w", e.Addr, err)
	}
	return nil
}

func (e *Email) send(c *smtp.Client, host string, n Notification) error {
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			// The server's answer, never the credentials.
			return &PermanentError{fmt.Errorf("auth as %s: %w", e.Username, err)}
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(e.message(n)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// message renders the RFC 5322 message. Labels come from users' compose
// files, so header values are stripped of line breaks (no header
// injection) and encoded when not ASCII.
func (e *Email) message(n Notification) []byte {
	header := func(v string) string {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		return mime.QEncoding.Encode("utf-8", v)
	}
	date := n.Alert.FiredAt
	if n.Kind == KindResolved {
		date = n.Alert.ResolvedAt
	}
	if date.IsZero() {
		date = n.Alert.ActiveSince
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", header(e.From))
	fmt.Fprintf(&b, "To: %s\r\n", header(strings.Join(e.To, ", ")))
	fmt.Fprintf(&b, "Subject: %s\r\n", header(Subject(n)))
	if !date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	fmt.Fprintf(&b, "X-Haven-Alert: %s\r\n", header(n.Alert.Rule))
	fmt.Fprintf(&b, "X-Haven-Kind: %s\r\n", header(n.Kind))
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(Body(n), "\n", "\r\n"))
	return b.Bytes()
}
