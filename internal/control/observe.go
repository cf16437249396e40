package control

import (
	"context"
	"fmt"
	"time"

	"github.com/haven-platform/haven/internal/metrics"
	"github.com/haven-platform/haven/internal/spec"
)

// MetricsReader is what the read side needs of the time-series store.
type MetricsReader interface {
	Query(q metrics.Query) ([]metrics.Series, error)
	Latest(name string, match metrics.Labels) ([]metrics.Series, error)
	Names() []string
}

// MetricsQuery selects one metric of an app+environment.
type MetricsQuery struct {
	Name     string
	Service  string
	Instance string
	Since    time.Duration
	Step     time.Duration
}

// Metrics returns the series of one metric for an app+environment.
func (c *Controller) Metrics(ctx context.Context, target spec.AppEnv, q MetricsQuery) ([]metrics.Series, error) {
	if c.MetricsStore == nil {
		return nil, fmt.Errorf("%w: this server keeps no metrics", spec.ErrInvalid)
	}
	known := false
	for _, n := range c.MetricsStore.Names() {
		known = known || n == q.Name
	}
	if !known {
		return nil, fmt.Errorf("%w: no metric %q (known: %v)", spec.ErrInvalid, q.Name, c.MetricsStore.Names())
	}
	match := metrics.Labels{"app": target.App, "env": target.Env}
	if q.Service != "" {
		match["service"] = q.Service
	}
	if q.Instance != "" {
		match["instance"] = q.Instance
	}
	if q.Since <= 0 {
		return c.MetricsStore.Latest(q.Name, match)
	}
	now := time.Now()
	return c.MetricsStore.Query(metrics.Query{Name: q.Name, Match: match, Since: now.Add(-q.Since), Until: now, Step: q.Step})
}
