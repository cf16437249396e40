package collect

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsListEveryMetric: docs/metrics.md names every metric with its
// store name, so the documented names cannot drift from the code.
func TestDocsListEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, m := range Catalog {
		if !strings.Contains(doc, "| `"+m.Prom+"` | `"+m.Name+"` |") {
			t.Errorf("docs/metrics.md has no row for %s (%s)", m.Prom, m.Name)
		}
	}
	if !strings.Contains(doc, "`"+RequestDurationProm+"`") {
		t.Errorf("docs/metrics.md does not list %s", RequestDurationProm)
	}
}

// TestDashboardUsesKnownMetrics: every haven_* name the Grafana dashboard
// queries is one /metrics serves.
func TestDashboardUsesKnownMetrics(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/haven.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("haven.json: %v", err)
	}
	known := map[string]bool{}
	for _, m := range Catalog {
		known[m.Prom] = true
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		known[RequestDurationProm+s] = true
	}
	names := regexp.MustCompile(`haven_[a-z0-9_]+`).FindAllString(string(b), -1)
	if len(names) == 0 {
		t.Fatal("the dashboard queries no haven metric")
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("dashboard queries %s, which Haven does not serve", n)
		}
	}
}
