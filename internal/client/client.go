package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/logs"
	"github.com/haven-platform/haven/internal/spec"
)

// ErrUnreachable means no server answered at the address.
var ErrUnreachable = errors.New("haven server unreachable")

// Error is an error answer from the server.
type Error struct {
	Status int
	// Kind is one of the api.Kind* constants.
	Kind    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Client calls one Haven server.
type Client struct {
	base  string
	http  *http.Client
	addr  string
	token string
}

// New returns a client for addr — a unix socket path, or an https URL —
// that authenticates with token. tlsConfig (nil: the system's roots)
// verifies an https server; Haven's own CA is pinned by passing
// pki.ClientTLS(ca).
func New(addr, token string, tlsConfig *tls.Config) *Client {
	c := &Client{addr: addr, token: token}
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		c.base = strings.TrimSuffix(addr, "/")
		c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}}
		return c
	}
	c.base = "http://haven"
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		},
	}}
	return c
}

// Addr is the address the client talks to.
func (c *Client) Addr() string { return c.addr }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send performs a call and returns the response of a 2xx answer; any other
// answer becomes an *Error.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte: // a secret value, sent as it is
		rd, contentType = bytes.NewReader(b), "application/octet-stream"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, c.addr, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e = api.Error{Kind: api.KindInternal, Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
		}
		return nil, &Error{Status: resp.StatusCode, Kind: e.Kind, Message: e.Message}
	}
	return resp, nil
}

// Ping checks that a server answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/v1/healthz", nil, nil)
}

// Version returns the server's version.
func (c *Client) Version(ctx context.Context) (api.Version, error) {
	var v api.Version
	err := c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
	return v, err
}

// Deploy makes app the desired state in env.
func (c *Client) Deploy(ctx context.Context, env string, app spec.App) (api.DeployResponse, error) {
	var out api.DeployResponse
	err := c.do(ctx, http.MethodPut, "/v1/deployments/"+url.PathEscape(app.Name)+"/"+url.PathEscape(env), api.DeployRequest{App: app}, &out)
	return out, err
}

// Scale sets replica counts.
func (c *Client) Scale(ctx context.Context, target spec.AppEnv, replicas map[string]int) (spec.Deployment, error) {
	var out spec.Deployment
	err := c.do(ctx, http.MethodPost, deploymentPath(target)+"/scale", api.ScaleRequest{Replicas: replicas}, &out)
	return out, err
}

// Down takes an app+environment down.
func (c *Client) Down(ctx context.Context, target spec.AppEnv) error {
	return c.do(ctx, http.MethodDelete, deploymentPath(target), nil, nil)
}

// Deployments lists what is deployed.
func (c *Client) Deployments(ctx context.Context) ([]spec.Deployment, error) {
	var out []spec.Deployment
	err := c.do(ctx, http.MethodGet, "/v1/deployments", nil, &out)
	return out, err
}

// Status returns statuses, filtered by app and env when not empty.
func (c *Client) Status(ctx context.Context, app, env string) ([]spec.EnvStatus, error) {
	q := url.Values{}
	if app != "" {
		q.Set("app", app)
	}
	if env != "" {
		q.Set("env", env)
	}
	var out []spec.EnvStatus
	err := c.do(ctx, http.MethodGet, "/v1/status?"+q.Encode(), nil, &out)
	return out, err
}

// Instances returns how many instances the runtime holds for target, in
// any state (what remains to stop after a down).
func (c *Client) Instances(ctx context.Context, target spec.AppEnv) (int, error) {
	var out []spec.InstanceLabels
	err := c.do(ctx, http.MethodGet, deploymentPath(target)+"/instances", nil, &out)
	return len(out), err
}

// LogOptions select log lines.
type LogOptions struct {
	Instance string
	Since    time.Time
	Tail     int
	Follow   bool
	// Grep is a regular expression the text must match.
	Grep string
	// Fields are KEY=VALUE pairs JSON lines must have.
	Fields []string
}

// Logs calls fn with each log line of a service until the stream ends (or
// ctx ends, when following).
func (c *Client) Logs(ctx context.Context, target spec.AppEnv, service string, opts LogOptions, fn func(logs.Line) error) error {
	q := url.Values{}
	if opts.Instance != "" {
		q.Set("instance", opts.Instance)
	}
	if !opts.Since.IsZero() {
		q.Set("since", opts.Since.UTC().Format(time.RFC3339Nano))
	}
	if opts.Tail > 0 {
		q.Set("tail", strconv.Itoa(opts.Tail))
	}
	if opts.Follow {
		q.Set("follow", "1")
	}
	if opts.Grep != "" {
		q.Set("grep", opts.Grep)
	}
	for _, f := range opts.Fields {
		q.Add("field", f)
	}
	resp, err := c.send(ctx, http.MethodGet, deploymentPath(target)+"/services/"+url.PathEscape(service)+"/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var l logs.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("logs: decode line: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func deploymentPath(t spec.AppEnv) string {
	return "/v1/deployments/" + url.PathEscape(t.App) + "/" + url.PathEscape(t.Env)
}
