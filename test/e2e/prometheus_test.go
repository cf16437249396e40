package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// promQuery returns the value of an instant PromQL query with one result.
func promQuery(base, q string) (float64, bool) {
	r, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false
	}
	defer r.Body.Close()
	var out struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(r.Body).Decode(&out) != nil || len(out.Data.Result) != 1 {
		return 0, false
	}
	s, _ := out.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// hvnLatest returns the latest value `haven metrics NAME` reports for a
// service (the one series it has).
func hvnLatest(t *testing.T, h *haven, name string) float64 {
	t.Helper()
	r := h.mustRun("metrics", name, "--service", "web", "-o", "json")
	var series []struct {
		Samples []struct{ Value float64 }
	}
	if err := json.Unmarshal([]byte(r.stdout), &series); err != nil || len(series) != 1 || len(series[0].Samples) == 0 {
		t.Fatalf("haven metrics %s: %v\n%s", name, err, r.stdout)
	}
	return series[0].Samples[len(series[0].Samples)-1].Value
}

// TestPrometheusScrapesHaven: a real Prometheus (Debian's package) scrapes
// a running server's /metrics, and PromQL returns per-instance CPU and
// per-route request counts within 5% of what `haven metrics` reports.
func TestPrometheusScrapesHaven(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: apt-get install prometheus (.ci/run does)")
	}
	h := newHaven(t, "process")
	h.startServer()
	file := processCompose(t, t.TempDir(), "prom", 1, map[string]string{"BURN_CPU": "1"})
	h.mustRun("up", "-f", file)
	t.Cleanup(func() { h.run("down") })
	const requests = 137
	for i := 0; i < requests; i++ {
		if code, _, err := h.get("prom.test", "/"); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}

	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: haven\n    static_configs:\n      - targets: [%q]\n", h.metricsAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	prom := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Process.Kill(); prom.Wait() })
	base := "http://" + addr

	var promReq, promCPU float64
	waitFor(t, 60*time.Second, "Prometheus to scrape the final request count and CPU", func() bool {
		r, ok1 := promQuery(base, `sum(haven_route_requests_total{app="prom",service="web"})`)
		c, ok2 := promQuery(base, `haven_instance_cpu_cores{app="prom",service="web"}`)
		promReq, promCPU = r, c
		return ok1 && ok2 && r >= requests
	})
	// CPU is sampled every 2s by Haven and scraped every 1s by Prometheus:
	// compare until both have seen the same collection pass (bounded).
	within := func(a, b float64) bool { return math.Abs(a-b) <= 0.05*math.Max(math.Abs(a), math.Abs(b)) }
	var hvnReq, hvnCPU float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		hvnReq, hvnCPU = hvnLatest(t, h, "requests_total"), hvnLatest(t, h, "cpu_cores")
		promReq, _ = promQuery(base, `sum(haven_route_requests_total{app="prom",service="web"})`)
		promCPU, _ = promQuery(base, `haven_instance_cpu_cores{app="prom",service="web"}`)
		if (within(promReq, hvnReq) && within(promCPU, hvnCPU)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("requests: Prometheus %.0f, haven metrics %.0f (sent %d); cpu cores: Prometheus %.3f, haven metrics %.3f", promReq, hvnReq, requests, promCPU, hvnCPU)
	if !within(promReq, hvnReq) || promReq < requests {
		t.Errorf("request counts differ: Prometheus %.0f, haven %.0f, sent %d", promReq, hvnReq, requests)
	}
	if promCPU < 0.3 || !within(promCPU, hvnCPU) {
		t.Errorf("CPU differs: Prometheus %.3f, haven %.3f (a busy loop should use most of a core)", promCPU, hvnCPU)
	}
}
