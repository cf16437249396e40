package spec

import (
	"fmt"
	"sort"
	"strings"
)

// AlertRule is one alert a service declares in `x-haven.alerts` (or the
// server's configuration): a condition on one of AlertMetrics, held for a
// while, with a severity and labels for the notification.
type AlertRule struct {
	Name   string  `json:"name"`
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Value  float64 `json:"value"`
	// For is how long the condition must hold before the alert fires.
	For      Duration          `json:"for"`
	Severity string            `json:"severity"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// AlertMetrics are the per-instance metrics alert rules can watch, with
// what they mean (see docs/metrics.md).
var AlertMetrics = map[string]string{
	"cpu_limit_ratio":    "CPU used as a share of the instance's CPU limit (1 = at the limit)",
	"memory_limit_ratio": "memory used as a share of the instance's memory limit",
	"disk_ratio":         "disk used as a share of the filesystem holding the instance's data",
	"restarts_10m":       "instances of the service that failed in the last 10 minutes",
	"cpu_cores":          "CPU used, in cores",
	"memory_bytes":       "memory used, in bytes",
}

// AlertMetricNames lists AlertMetrics' names, sorted.
func AlertMetricNames() []string {
	names := make([]string, 0, len(AlertMetrics))
	for n := range AlertMetrics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check reports the first problem of a rule, naming the field.
func (r AlertRule) Check() error {
	switch {
	case !ValidName(r.Name):
		return fmt.Errorf("name %q must be a lowercase DNS label", r.Name)
	case AlertMetrics[r.Metric] == "":
		return fmt.Errorf("metric %q is not one Haven measures; use one of %s", r.Metric, strings.Join(AlertMetricNames(), ", "))
	case r.Op != ">" && r.Op != ">=" && r.Op != "<" && r.Op != "<=":
		return fmt.Errorf("op %q must be one of >, >=, <, <=", r.Op)
	case r.For < 0:
		return fmt.Errorf("for %s must not be negative", r.For.D())
	case r.Severity != "info" && r.Severity != "warning" && r.Severity != "critical":
		return fmt.Errorf("severity %q must be info, warning or critical", r.Severity)
	}
	return nil
}
