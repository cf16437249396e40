package collect

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/haven-platform/haven/internal/proxy"
)

// PrometheusCollector returns a prometheus.Collector that renders c's
// latest Snapshot, for registering in a registry of one's own (Handler
// makes one).
func (c *Collector) PrometheusCollector() prometheus.Collector { return promCollector{c} }

type promCollector struct{ c *Collector }

// Describe sends nothing, which makes the collector "unchecked": the
// series it exports change with what runs.
func (promCollector) Describe(chan<- *prometheus.Desc) {}

// Collect renders the latest Snapshot. A scrape never measures anything
// itself, so Prometheus sees exactly the values the store received for
// that pass.
func (p promCollector) Collect(ch chan<- prometheus.Metric) {
	snap := p.c.Latest()
	for _, s := range snap.Samples {
		t := prometheus.GaugeValue
		if s.Metric.Counter {
			t = prometheus.CounterValue
		}
		m, err := prometheus.NewConstMetric(s.Metric.desc, t, s.Value, s.Labels.Values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(s.Metric.desc, err)
			continue
		}
		ch <- m
	}
	for _, h := range snap.Histograms {
		count, sum, buckets := promHistogram(h.Stats)
		m, err := prometheus.NewConstHistogram(requestDurationDesc, count, sum, buckets, h.Labels.Values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(requestDurationDesc, err)
			continue
		}
		ch <- m
	}
}

// bounds are proxy.BucketBounds in seconds, and mids the midpoint of each
// finite bucket (the overflow bucket counts at its lower bound).
var bounds, mids = func() (b, m [proxy.NumBuckets - 1]float64) {
	lo := 0.0
	for i, d := range proxy.BucketBounds() {
		b[i] = d.Seconds()
		m[i] = (lo + b[i]) / 2
		lo = b[i]
	}
	return b, m
}()

// promHistogram turns the proxy's per-bucket counts into Prometheus's
// cumulative ones. The proxy keeps no latency sum, so the sum is
// estimated from bucket midpoints (within one bucket width, ~31%).
func promHistogram(g proxy.GroupStats) (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(bounds))
	for i, n := range g.Buckets {
		count += n
		if i < len(bounds) {
			sum += float64(n) * mids[i]
			buckets[bounds[i]] = count
		} else {
			sum += float64(n) * bounds[len(bounds)-1]
		}
	}
	return count, sum, buckets
}

// Handler serves the latest Snapshot in the Prometheus exposition format
// (mount it at /metrics). Only Haven's own metrics are served: the Go
// runtime of the server is not what users watch.
func (c *Collector) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(promCollector{c})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
