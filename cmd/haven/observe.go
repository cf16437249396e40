package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/haven-platform/haven/internal/agent"
	"github.com/haven-platform/haven/internal/alerts"
	"github.com/haven-platform/haven/internal/cli"
	"github.com/haven-platform/haven/internal/collect"
	"github.com/haven-platform/haven/internal/spec"
)

func collectInstances(a *agent.Agent) []collect.Instance {
	infos := a.Instances()
	out := make([]collect.Instance, len(infos))
	for i, in := range infos {
		out[i] = collect.Instance{ID: in.ID, Labels: in.Labels, Running: in.Running, Limits: in.Limits, Restarts10m: in.Restarts10m}
	}
	return out
}

func collectBackends(a *agent.Agent) []collect.Backend {
	infos := a.Backends()
	out := make([]collect.Backend, len(infos))
	for i, b := range infos {
		out[i] = collect.Backend{Name: b.Name, Env: b.Env, Service: b.Service, Route: b.Route}
	}
	return out
}

// notifiers builds the alert notifiers the server's flags ask for.
func notifiers(cfg cli.ServerConfig) []alerts.Notifier {
	var out []alerts.Notifier
	for _, url := range cfg.AlertWebhooks {
		out = append(out, &alerts.Webhook{URL: url})
	}
	if cfg.SMTPAddr != "" && len(cfg.AlertTo) > 0 {
		out = append(out, &alerts.Email{Addr: cfg.SMTPAddr, From: cfg.AlertFrom, To: cfg.AlertTo})
	}
	return out
}

// alertRules returns the default rules, or the rules of a JSON file.
func alertRules(path string) ([]alerts.Rule, error) {
	if path == "" {
		return alerts.DefaultRules(), nil
	}
	var raw []spec.AlertRule
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--alert-rules: %w", err)
	}
	if err := jsonUnmarshalStrict(b, &raw); err != nil {
		return nil, fmt.Errorf("--alert-rules %s: %w", path, err)
	}
	var rules []alerts.Rule
	for i, r := range raw {
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("--alert-rules %s: rule %d: %w", path, i+1, err)
		}
		rules = append(rules, alerts.Rule{Name: r.Name, Metric: r.Metric, Op: r.Op, Value: r.Value, For: alerts.Duration(r.For), Severity: r.Severity, Labels: r.Labels})
	}
	return rules, nil
}

func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
