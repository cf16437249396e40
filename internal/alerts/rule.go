package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The metrics the default rules watch. They are per instance and carry the
// instance's series labels (app, env, service, instance); see
// docs/metrics.md.
const (
	// MetricCPULimit is CPU used as a share of the instance's CPU limit.
	MetricCPULimit = "cpu_limit_ratio"
	// MetricMemoryLimit is memory used as a share of the instance's memory limit.
	MetricMemoryLimit = "memory_limit_ratio"
	// MetricDisk is disk used as a share of the filesystem holding the
	// instance's data.
	MetricDisk = "disk_ratio"
	// MetricRestarts is the number of failed instances of the service in the
	// last 10 minutes; the window is in the metric, so rules on it need no For.
	MetricRestarts = "restarts_10m"
)

// DefaultMetrics is the set Validate checks against when the caller names
// none: the metrics of the default rules.
var DefaultMetrics = []string{MetricCPULimit, MetricMemoryLimit, MetricDisk, MetricRestarts}

// Severities, from least to most urgent.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// DefaultRepeatInterval is how often a firing alert is announced again when
// its rule does not say: often enough that a forgotten alert comes back the
// same working day, rarely enough not to train people to ignore it.
const DefaultRepeatInterval = 4 * time.Hour

// Duration is a time.Duration written as a Go duration string ("5m",
// "90s") in JSON and YAML, the way compose files write durations.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. 30s, 5m, 1h)", b)
	}
	*d = Duration(v)
	return nil
}

// Rule is one alert: a condition on a metric, held for a while, with a
// severity and labels carried into its notifications.
type Rule struct {
	// Name identifies the rule; with the series labels it identifies an alert.
	Name string `json:"name"`
	// Metric is the metric the condition looks at, e.g. "cpu_limit_ratio".
	Metric string `json:"metric"`
	// Op compares the metric's value with Value: ">", ">=", "<" or "<=".
	Op    string  `json:"op"`
	Value float64 `json:"value"`
	// For is how long the condition must hold before the alert fires; it
	// keeps a spike from waking anyone. Zero fires on the first pass.
	For Duration `json:"for"`
	// Severity is info, warning or critical.
	Severity string `json:"severity"`
	// Labels are added to the alert's series labels (and win over them), so
	// that receivers can route on them, e.g. team=payments.
	Labels map[string]string `json:"labels,omitempty"`
	// Match, when set, limits the rule to series whose labels have these
	// values, e.g. {"app": "mall", "service": "api"} for a rule a service
	// declares in its x-haven.alerts.
	Match map[string]string `json:"match,omitempty"`
	// RepeatInterval is how often a firing alert is announced again;
	// zero means DefaultRepeatInterval.
	RepeatInterval Duration `json:"repeat_interval,omitempty"`
}

// DefaultRules are the four rules on for every service, from the promise
// Haven makes to its users (issue 4): CPU, memory, disk and restarts.
//
//   - cpu-high: cpu_limit_ratio > 0.8 for 5m, warning. A service at its CPU
//     limit is throttled and slow but still answers; five minutes tells a
//     sustained load from a burst (a build, a cache warm-up).
//   - memory-high: memory_limit_ratio > 0.9 for 1m, critical. At the limit
//     the kernel's OOM killer ends the process, so there is little time; one
//     minute still lets a garbage-collection peak pass.
//   - disk-high: disk_ratio > 0.85 for 5m, warning. Disks fill slowly and
//     the last 15% is the time to act; a short spike (a temporary file) is
//     ignored.
//   - restarts: restarts_10m > 3 for 0s, critical. More than three failures
//     in ten minutes is a crash loop; the ten-minute window is already in the
//     metric, so waiting longer would only delay the news.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "cpu-high", Metric: MetricCPULimit, Op: ">", Value: 0.8, For: Duration(5 * time.Minute), Severity: SeverityWarning},
		{Name: "memory-high", Metric: MetricMemoryLimit, Op: ">", Value: 0.9, For: Duration(time.Minute), Severity: SeverityCritical},
		{Name: "disk-high", Metric: MetricDisk, Op: ">", Value: 0.85, For: Duration(5 * time.Minute), Severity: SeverityWarning},
		{Name: "restarts", Metric: MetricRestarts, Op: ">", Value: 3, For: 0, Severity: SeverityCritical},
	}
}

// FieldError is a problem with one field of a rule. Its message starts with
// the field's JSON name so that a user can find it in their file.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ParseRule reads one rule from JSON and validates it against known (see
// Validate). Unknown fields are refused, since a misspelt "for" would
// otherwise silently fire at once. Every error names the field.
func ParseRule(data []byte, known []string) (Rule, error) {
	// Durations are read as raw JSON first, so that a bad one is reported
	// with its field name rather than encoding/json's generic message.
	var raw struct {
		Rule
		For            json.RawMessage `json:"for"`
		RepeatInterval json.RawMessage `json:"repeat_interval"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			// The field path goes through the embedded Rule: "Rule.value".
			field := strings.TrimPrefix(te.Field, "Rule.")
			return Rule{}, &FieldError{Field: field, Msg: fmt.Sprintf("want %s, got %s", te.Type, te.Value)}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Rule{}, &FieldError{Field: strings.Trim(f, `"`), Msg: "unknown field"}
		}
		return Rule{}, fmt.Errorf("rule: %w", err)
	}
	r := raw.Rule
	var err error
	if r.For, err = parseDuration("for", raw.For); err != nil {
		return Rule{}, err
	}
	if r.RepeatInterval, err = parseDuration("repeat_interval", raw.RepeatInterval); err != nil {
		return Rule{}, err
	}
	if err := r.Validate(known); err != nil {
		return Rule{}, err
	}
	return r, nil
}

func parseDuration(field string, raw json.RawMessage) (Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, &FieldError{Field: field, Msg: fmt.Sprintf("bad duration %s (want a string such as \"5m\")", raw)}
	}
	var d Duration
	if err := d.UnmarshalText([]byte(s)); err != nil {
		return 0, &FieldError{Field: field, Msg: err.Error()}
	}
	return d, nil
}

// Validate reports the first problem of the rule as a *FieldError. known
// lists the metrics the rule may watch; empty means DefaultMetrics.
func (r Rule) Validate(known []string) error {
	if len(known) == 0 {
		known = DefaultMetrics
	}
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case r.Name == "":
		return bad("name", "must not be empty")
	case strings.ContainsAny(r.Name, " \t\r\n"):
		return bad("name", "%q must not contain spaces", r.Name)
	case r.Metric == "":
		return bad("metric", "must not be empty; use one of %s", strings.Join(known, ", "))
	case !slices.Contains(known, r.Metric):
		return bad("metric", "%q is not a known metric; use one of %s", r.Metric, strings.Join(known, ", "))
	case !validOp(r.Op):
		return bad("op", "%q must be one of >, >=, <, <=", r.Op)
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return bad("value", "must be a finite number")
	case r.For < 0:
		return bad("for", "%s must not be negative", r.For.D())
	case r.RepeatInterval < 0:
		return bad("repeat_interval", "%s must not be negative", r.RepeatInterval.D())
	case r.Severity != SeverityInfo && r.Severity != SeverityWarning && r.Severity != SeverityCritical:
		return bad("severity", "%q must be info, warning or critical", r.Severity)
	}
	for k := range r.Labels {
		if k == "" {
			return bad("labels", "a label name must not be empty")
		}
	}
	return nil
}

// ValidateRules validates each rule and refuses two rules with one name
// (the name is half an alert's identity). Errors say which rule:
// "rules[2] (cpu-high): for: ...".
func ValidateRules(rules []Rule, known []string) error {
	seen := make(map[string]int, len(rules))
	for i, r := range rules {
		if err := r.Validate(known); err != nil {
			return fmt.Errorf("rules[%d] (%s): %w", i, r.Name, err)
		}
		if j, dup := seen[r.Name]; dup {
			return fmt.Errorf("rules[%d] (%s): %w", i, r.Name, &FieldError{Field: "name", Msg: fmt.Sprintf("already used by rules[%d]", j)})
		}
		seen[r.Name] = i
	}
	return nil
}

func validOp(op string) bool { return op == ">" || op == ">=" || op == "<" || op == "<=" }

// holds reports whether the rule's condition is true for v. NaN (no data)
// never holds, whatever the operator.
func (r Rule) holds(v float64) bool {
	switch r.Op {
	case ">":
		return v > r.Value
	case ">=":
		return v >= r.Value
	case "<":
		return v < r.Value
	case "<=":
		return v <= r.Value
	}
	return false
}

func (r Rule) repeat() time.Duration {
	if r.RepeatInterval <= 0 {
		return DefaultRepeatInterval
	}
	return r.RepeatInterval.D()
}
