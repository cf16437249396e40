package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/alerts"
	"github.com/haven-platform/haven/internal/store"
)

// AlertLoop evaluates alert rules on the latest metrics every Interval and
// hands notifications to a Notifier (an alerts.Dispatcher, which retries
// without blocking this loop). Alert states live in memory: after a
// restart, a condition that still holds is pending again and fires after
// its `for`.
type AlertLoop struct {
	Store    store.Store
	Metrics  MetricsReader
	Defaults []alerts.Rule
	Notifier alerts.Notifier
	Interval time.Duration
	Logger   *slog.Logger

	mu       sync.Mutex
	state    []alerts.Alert
	silences []alerts.Silence
}

// Run evaluates until ctx ends.
func (l *AlertLoop) Run(ctx context.Context) {
	if l.Interval <= 0 {
		l.Interval = 2 * time.Second
	}
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Evaluate(ctx, time.Now())
		}
	}
}

// Rules returns the rules in force: the defaults for every service, plus
// each service's own `x-haven.alerts`, limited to that service.
func (l *AlertLoop) Rules(ctx context.Context) []alerts.Rule {
	rules := append([]alerts.Rule(nil), l.Defaults...)
	ds, err := l.Store.ListDeployments(ctx)
	if err != nil {
		return rules
	}
	for _, d := range ds {
		for _, s := range d.App.Services {
			for _, r := range s.Alerts {
				rules = append(rules, alerts.Rule{
					Name: d.AppEnv.App + "-" + d.AppEnv.Env + "-" + s.Name + "-" + r.Name, Metric: r.Metric, Op: r.Op, Value: r.Value,
					For: alerts.Duration(r.For), Severity: r.Severity, Labels: r.Labels,
					Match: map[string]string{"app": d.AppEnv.App, "env": d.AppEnv.Env, "service": s.Name},
				})
			}
		}
	}
	return rules
}

// Evaluate runs one evaluation at now.
func (l *AlertLoop) Evaluate(ctx context.Context, now time.Time) {
	rules := l.Rules(ctx)
	var points []alerts.Point
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Metric] {
			continue
		}
		seen[r.Metric] = true
		series, err := l.Metrics.Latest(r.Metric, nil)
		if err != nil {
			continue
		}
		for _, s := range series {
			if len(s.Samples) == 0 || now.Sub(s.Samples[len(s.Samples)-1].Time) > time.Minute {
				continue // a series that stopped reporting resolves
			}
			points = append(points, alerts.Point{Metric: r.Metric, Labels: s.Labels, Value: s.Samples[len(s.Samples)-1].Value})
		}
	}
	l.mu.Lock()
	next, notes := alerts.Evaluate(rules, points, l.state, l.silences, now)
	l.state = next
	kept := l.silences[:0]
	for _, s := range l.silences {
		if s.Until.After(now) {
			kept = append(kept, s)
		}
	}
	l.silences = kept
	l.mu.Unlock()
	for _, n := range notes {
		if err := l.Notifier.Notify(ctx, n); err != nil && l.Logger != nil {
			l.Logger.Warn("alert notification not queued", "rule", n.Alert.Rule, "err", err)
		}
	}
}

// Alerts returns the current alerts.
func (l *AlertLoop) Alerts() []alerts.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]alerts.Alert(nil), l.state...)
}

// Silence mutes alerts whose labels match until the silence ends.
func (l *AlertLoop) Silence(s alerts.Silence) alerts.Silence {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s.ID = hex.EncodeToString(b)
	l.mu.Lock()
	l.silences = append(l.silences, s)
	l.mu.Unlock()
	return s
}

// Silences returns the silences in force.
func (l *AlertLoop) Silences() []alerts.Silence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]alerts.Silence(nil), l.silences...)
}
