package collect

import (
	"time"

	"github.com/haven-platform/haven/internal/proxy"
)

// Snapshot is one collection pass: every value it produced, at one time.
// It is immutable once published.
type Snapshot struct {
	Time    time.Time
	Samples []Sample
	// Histograms are the ingress's latency buckets per route and revision
	// (cumulative), for Prometheus.
	Histograms []Histogram
}

// Sample is one value of one series.
type Sample struct {
	Metric *Metric
	Labels *LabelSet
	Value  float64
}

// Histogram is one route and revision's cumulative request counters.
type Histogram struct {
	Labels *LabelSet
	Stats  proxy.GroupStats
}

// LabelSet is a series' labels, built once per series and shared by every
// pass (so a pass allocates no label maps).
type LabelSet struct {
	// Values are in the order of the kind's LabelNames.
	Values []string
	// Map is the same labels by name; never modified.
	Map map[string]string
}

type labelSet = LabelSet

func newLabelSet(k Kind, values ...string) *LabelSet {
	names := kindLabels[k]
	m := make(map[string]string, len(names))
	for i, n := range names {
		m[n] = values[i]
	}
	return &LabelSet{Values: values, Map: m}
}

func (s *Snapshot) add(m *Metric, l *LabelSet, v float64) {
	s.Samples = append(s.Samples, Sample{Metric: m, Labels: l, Value: v})
}

// Value returns the value of the first sample of metric name (store name)
// whose labels include match, for tests and `haven top`-style readers.
func (s *Snapshot) Value(name string, match map[string]string) (float64, bool) {
next:
	for _, x := range s.Samples {
		if x.Metric.Name != name {
			continue
		}
		for k, v := range match {
			if x.Labels.Map[k] != v {
				continue next
			}
		}
		return x.Value, true
	}
	return 0, false
}
