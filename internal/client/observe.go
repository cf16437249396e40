package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/haven-platform/haven/internal/alerts"
	"github.com/haven-platform/haven/internal/api"
	"github.com/haven-platform/haven/internal/metrics"
	"github.com/haven-platform/haven/internal/spec"
)

// Metrics returns one metric's series for an app+environment: the latest
// value per series when since is 0, else samples over that long.
func (c *Client) Metrics(ctx context.Context, target spec.AppEnv, name, service string, since time.Duration) ([]metrics.Series, error) {
	q := url.Values{"name": {name}}
	if service != "" {
		q.Set("service", service)
	}
	if since > 0 {
		q.Set("since", since.String())
	}
	var out []metrics.Series
	err := c.do(ctx, http.MethodGet, deploymentPath(target)+"/metrics?"+q.Encode(), nil, &out)
	return out, err
}

// Alerts returns the alerts of environments the caller may read.
func (c *Client) Alerts(ctx context.Context) ([]alerts.Alert, error) {
	var out []alerts.Alert
	err := c.do(ctx, http.MethodGet, "/v1/alerts", nil, &out)
	return out, err
}

// Silence mutes an environment's alerts matching matchers for a while.
func (c *Client) Silence(ctx context.Context, env string, matchers map[string]string, d time.Duration, comment string) (alerts.Silence, error) {
	var out alerts.Silence
	err := c.do(ctx, http.MethodPost, "/v1/envs/"+url.PathEscape(env)+"/silences", api.SilenceRequest{Matchers: matchers, For: spec.Duration(d), Comment: comment}, &out)
	return out, err
}
