package alerts

import (
	"github.com/haven-platform/haven/internal/golden"

	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// step is one Evaluate pass at t0+at, with what it must return, written
// compactly: alerts as "rule series state", notifications as
// "kind rule series".
type step struct {
	at       time.Duration
	points   []Point
	silences []Silence
	alerts   []string
	notify   []string
}

func pt(metric, series string, v float64) Point {
	parts := strings.Split(series, "/")
	l := map[string]string{"app": parts[0], "env": parts[1], "service": parts[2]}
	if len(parts) > 3 {
		l["instance"] = parts[3]
	}
	return Point{Metric: metric, Labels: l, Value: v}
}

func cpu(series string, v float64) Point { return pt(MetricCPULimit, series, v) }

func summarize(next []Alert, notify []Notification) (as, ns []string) {
	for _, a := range next {
		s := a.Rule + " " + a.Series() + " " + a.State
		if a.SilencedBy != "" {
			s += " silenced:" + a.SilencedBy
		}
		as = append(as, s)
	}
	for _, n := range notify {
		ns = append(ns, n.Kind+" "+n.Alert.Rule+" "+n.Alert.Series())
	}
	return as, ns
}

// run plays steps in order, feeding each pass the previous one's alerts,
// and returns the last alerts.
func run(t *testing.T, rules []Rule, steps []step) []Alert {
	t.Helper()
	var prev []Alert
	for i, s := range steps {
		next, notify := Evaluate(rules, s.points, prev, s.silences, t0.Add(s.at))
		as, ns := summarize(next, notify)
		if fmt.Sprint(as) != fmt.Sprint(s.alerts) {
			t.Errorf("step %d (t+%s): alerts\n got %q\nwant %q", i, s.at, as, s.alerts)
		}
		if fmt.Sprint(ns) != fmt.Sprint(s.notify) {
			t.Errorf("step %d (t+%s): notifications\n got %q\nwant %q", i, s.at, ns, s.notify)
		}
		prev = next
	}
	return prev
}

func TestEvaluate(t *testing.T) {
	cpuRule := Rule{Name: "cpu-high", Metric: MetricCPULimit, Op: ">", Value: 0.8, For: Duration(5 * time.Minute), Severity: SeverityWarning}
	const api = "mall/prod/api"
	const m = time.Minute

	tests := []struct {
		name  string
		rules []Rule
		steps []step
	}{
		{
			name:  "pending then firing after For, once",
			rules: []Rule{cpuRule},
			steps: []step{
				{at: 0, points: []Point{cpu(api, 0.5)}},
				{at: 1 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 5 * m, points: []Point{cpu(api, 0.95)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 6 * m, points: []Point{cpu(api, 0.95)}, alerts: []string{"cpu-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api"}},
				{at: 7 * m, points: []Point{cpu(api, 0.95)}, alerts: []string{"cpu-high mall/prod/api firing"}},
			},
		},
		{
			name:  "pending that stops holding is dropped without a word",
			rules: []Rule{cpuRule},
			steps: []step{
				{at: 0, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 4 * m, points: []Point{cpu(api, 0.2)}},
				// A new episode starts its For from scratch.
				{at: 5 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 9 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 10 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api"}},
			},
		},
		{
			name:  "For zero fires on the first pass",
			rules: []Rule{{Name: "restarts", Metric: MetricRestarts, Op: ">", Value: 3, Severity: SeverityCritical}},
			steps: []step{
				{at: 0, points: []Point{pt(MetricRestarts, api, 3)}},
				{at: 10 * time.Second, points: []Point{pt(MetricRestarts, api, 4)}, alerts: []string{"restarts mall/prod/api firing"}, notify: []string{"firing restarts mall/prod/api"}},
			},
		},
		{
			name:  "repeat interval",
			rules: []Rule{{Name: "disk-high", Metric: MetricDisk, Op: ">=", Value: 0.85, Severity: SeverityWarning, RepeatInterval: Duration(time.Hour)}},
			steps: []step{
				{at: 0, points: []Point{pt(MetricDisk, api, 0.85)}, alerts: []string{"disk-high mall/prod/api firing"}, notify: []string{"firing disk-high mall/prod/api"}},
				{at: 59 * m, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}},
				{at: 60 * m, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}, notify: []string{"repeat disk-high mall/prod/api"}},
				{at: 119 * m, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}},
				{at: 120 * m, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}, notify: []string{"repeat disk-high mall/prod/api"}},
			},
		},
		{
			name:  "default repeat interval is 4h",
			rules: []Rule{{Name: "disk-high", Metric: MetricDisk, Op: ">", Value: 0.85, Severity: SeverityWarning}},
			steps: []step{
				{at: 0, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}, notify: []string{"firing disk-high mall/prod/api"}},
				{at: 4*time.Hour - time.Second, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}},
				{at: 4 * time.Hour, points: []Point{pt(MetricDisk, api, 0.9)}, alerts: []string{"disk-high mall/prod/api firing"}, notify: []string{"repeat disk-high mall/prod/api"}},
			},
		},
		{
			name:  "resolve notifies, then the resolved alert is dropped after KeepResolved",
			rules: []Rule{cpuRule},
			steps: []step{
				{at: 0, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 5 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api"}},
				{at: 6 * m, points: []Point{cpu(api, 0.8)}, alerts: []string{"cpu-high mall/prod/api resolved"}, notify: []string{"resolved cpu-high mall/prod/api"}},
				{at: 7 * m, points: []Point{cpu(api, 0.1)}, alerts: []string{"cpu-high mall/prod/api resolved"}},
				{at: 6*m + KeepResolved - time.Second, points: []Point{cpu(api, 0.1)}, alerts: []string{"cpu-high mall/prod/api resolved"}},
				{at: 6*m + KeepResolved, points: []Point{cpu(api, 0.1)}},
			},
		},
		{
			name:  "a resolved alert that holds again starts a new episode",
			rules: []Rule{cpuRule},
			steps: []step{
				{at: 0, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 5 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api"}},
				{at: 6 * m, points: []Point{cpu(api, 0.1)}, alerts: []string{"cpu-high mall/prod/api resolved"}, notify: []string{"resolved cpu-high mall/prod/api"}},
				{at: 7 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api pending"}},
				{at: 12 * m, points: []Point{cpu(api, 0.9)}, alerts: []string{"cpu-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api"}},
			},
		},
		{
			name:  "a series that disappears resolves; a pending one is dropped",
			rules: []Rule{cpuRule},
			steps: []step{
				{at: 0, points: []Point{cpu("mall/prod/api/a1", 0.9), cpu("mall/prod/api/a2", 0.9)}, alerts: []string{"cpu-high mall/prod/api/a1 pending", "cpu-high mall/prod/api/a2 pending"}},
				{at: 5 * m, points: []Point{cpu("mall/prod/api/a1", 0.9), cpu("mall/prod/api/a2", 0.9)}, alerts: []string{"cpu-high mall/prod/api/a1 firing", "cpu-high mall/prod/api/a2 firing"}, notify: []string{"firing cpu-high mall/prod/api/a1", "firing cpu-high mall/prod/api/a2"}},
				{at: 6 * m, points: []Point{cpu("mall/prod/api/a2", 0.9), cpu("mall/prod/api/a3", 0.9)}, alerts: []string{"cpu-high mall/prod/api/a1 resolved", "cpu-high mall/prod/api/a2 firing", "cpu-high mall/prod/api/a3 pending"}, notify: []string{"resolved cpu-high mall/prod/api/a1"}},
				{at: 7 * m, points: nil, alerts: []string{"cpu-high mall/prod/api/a1 resolved", "cpu-high mall/prod/api/a2 resolved"}, notify: []string{"resolved cpu-high mall/prod/api/a2"}},
			},
		},
		{
			name:  "multiple series and rules are independent and sorted",
			rules: []Rule{cpuRule, {Name: "memory-high", Metric: MetricMemoryLimit, Op: ">", Value: 0.9, For: Duration(m), Severity: SeverityCritical}},
			steps: []step{
				{at: 0, points: []Point{cpu("shop/prod/web", 0.9), cpu("mall/prod/api", 0.9), pt(MetricMemoryLimit, "mall/prod/api", 0.95), cpu("mall/dev/api", 0.1)},
					alerts: []string{"cpu-high mall/prod/api pending", "cpu-high shop/prod/web pending", "memory-high mall/prod/api pending"}},
				{at: m, points: []Point{cpu("shop/prod/web", 0.9), cpu("mall/prod/api", 0.9), pt(MetricMemoryLimit, "mall/prod/api", 0.95)},
					alerts: []string{"cpu-high mall/prod/api pending", "cpu-high shop/prod/web pending", "memory-high mall/prod/api firing"}, notify: []string{"firing memory-high mall/prod/api"}},
				{at: 5 * m, points: []Point{cpu("shop/prod/web", 0.9), cpu("mall/prod/api", 0.9), pt(MetricMemoryLimit, "mall/prod/api", 0.95)},
					alerts: []string{"cpu-high mall/prod/api firing", "cpu-high shop/prod/web firing", "memory-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api", "firing cpu-high shop/prod/web"}},
			},
		},
		{
			name:  "silence keeps the state, mutes notifications, and the alert is announced when it ends",
			rules: []Rule{cpuRule},
			steps: []step{
				{at: 0, points: []Point{cpu(api, 0.9)}, silences: []Silence{{ID: "s1", Matchers: map[string]string{"alertname": "cpu-high", "app": "mall"}, Until: t0.Add(10 * m)}},
					alerts: []string{"cpu-high mall/prod/api pending silenced:s1"}},
				{at: 5 * m, points: []Point{cpu(api, 0.9)}, silences: []Silence{{ID: "s1", Matchers: map[string]string{"alertname": "cpu-high", "app": "mall"}, Until: t0.Add(10 * m)}},
					alerts: []string{"cpu-high mall/prod/api firing silenced:s1"}},
				{at: 10 * m, points: []Point{cpu(api, 0.9)}, silences: []Silence{{ID: "s1", Matchers: map[string]string{"alertname": "cpu-high", "app": "mall"}, Until: t0.Add(10 * m)}},
					alerts: []string{"cpu-high mall/prod/api firing"}, notify: []string{"firing cpu-high mall/prod/api"}},
				// Silenced again: the resolution is muted too.
				{at: 11 * m, points: []Point{cpu(api, 0.1)}, silences: []Silence{{ID: "s2", Matchers: map[string]string{"service": "api"}, Until: t0.Add(time.Hour)}},
					alerts: []string{"cpu-high mall/prod/api resolved silenced:s2"}},
			},
		},
		{
			name:  "silenced throughout: never announced, so the resolution is not either",
			rules: []Rule{{Name: "restarts", Metric: MetricRestarts, Op: ">", Value: 3, Severity: SeverityCritical}},
			steps: []step{
				{at: 0, points: []Point{pt(MetricRestarts, api, 5)}, silences: []Silence{{ID: "s", Matchers: map[string]string{"env": "prod"}, Until: t0.Add(m)}},
					alerts: []string{"restarts mall/prod/api firing silenced:s"}},
				{at: 2 * m, points: []Point{pt(MetricRestarts, api, 0)},
					alerts: []string{"restarts mall/prod/api resolved"}},
			},
		},
		{
			name:  "silences that do not match, have expired or have no matchers mute nothing",
			rules: []Rule{{Name: "restarts", Metric: MetricRestarts, Op: ">", Value: 3, Severity: SeverityCritical}},
			steps: []step{
				{at: 0, points: []Point{pt(MetricRestarts, api, 5)}, silences: []Silence{
					{ID: "other-env", Matchers: map[string]string{"env": "dev"}, Until: t0.Add(m)},
					{ID: "expired", Matchers: map[string]string{"env": "prod"}, Until: t0},
					{ID: "empty", Until: t0.Add(m)},
					{ID: "other-rule", Matchers: map[string]string{"alertname": "cpu-high"}, Until: t0.Add(m)},
				}, alerts: []string{"restarts mall/prod/api firing"}, notify: []string{"firing restarts mall/prod/api"}},
			},
		},
		{
			name: "Match limits a rule to its series",
			rules: []Rule{{Name: "api-cpu", Metric: MetricCPULimit, Op: ">", Value: 0.5, Severity: SeverityInfo,
				Match: map[string]string{"service": "api"}}},
			steps: []step{
				{at: 0, points: []Point{cpu("mall/prod/api", 0.6), cpu("mall/prod/web", 0.9)}, alerts: []string{"api-cpu mall/prod/api firing"}, notify: []string{"firing api-cpu mall/prod/api"}},
			},
		},
		{
			name:  "NaN never holds",
			rules: []Rule{{Name: "low", Metric: MetricCPULimit, Op: "<", Value: 0.1, Severity: SeverityInfo}},
			steps: []step{
				{at: 0, points: []Point{cpu(api, nan())}},
				{at: m, points: []Point{cpu(api, 0.05)}, alerts: []string{"low mall/prod/api firing"}, notify: []string{"firing low mall/prod/api"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, tt.rules, tt.steps) })
	}
}

func nan() float64 { var z float64; return z / z }

func TestEvaluateRemovedRule(t *testing.T) {
	rule := Rule{Name: "restarts", Metric: MetricRestarts, Op: ">", Value: 3, Severity: SeverityCritical}
	prev, _ := Evaluate([]Rule{rule}, []Point{pt(MetricRestarts, "mall/prod/api", 9)}, nil, nil, t0)
	next, notify := Evaluate(nil, []Point{pt(MetricRestarts, "mall/prod/api", 9)}, prev, nil, t0.Add(time.Second))
	as, ns := summarize(next, notify)
	if fmt.Sprint(as) != "[restarts mall/prod/api resolved]" || fmt.Sprint(ns) != "[resolved restarts mall/prod/api]" {
		t.Fatalf("got %q %q", as, ns)
	}
}

func TestEvaluateLabelsAndTimes(t *testing.T) {
	rule := Rule{Name: "cpu-high", Metric: MetricCPULimit, Op: ">", Value: 0.8, For: Duration(time.Minute), Severity: SeverityWarning,
		Labels: map[string]string{"team": "payments", "env": "overridden"}}
	p := Point{Metric: MetricCPULimit, Labels: map[string]string{"app": "mall", "env": "prod", "service": "api"}, Value: 0.9}
	a1, _ := Evaluate([]Rule{rule}, []Point{p}, nil, nil, t0)
	p.Value = 0.95
	a2, n2 := Evaluate([]Rule{rule}, []Point{p}, a1, nil, t0.Add(time.Minute))
	p.Value = 0.2
	a3, n3 := Evaluate([]Rule{rule}, []Point{p}, a2, nil, t0.Add(2*time.Minute))

	if len(a2) != 1 || len(n2) != 1 || len(a3) != 1 || len(n3) != 1 {
		t.Fatalf("want one alert and notification per pass, got %v %v %v %v", a2, n2, a3, n3)
	}
	a := n2[0].Alert
	want := map[string]string{"app": "mall", "env": "overridden", "service": "api", "team": "payments"}
	if fmt.Sprint(a.Labels) != fmt.Sprint(want) {
		t.Errorf("labels = %v, want %v (series + rule labels, rule wins)", a.Labels, want)
	}
	if p.Labels["env"] != "prod" {
		t.Errorf("Evaluate modified the point's labels: %v", p.Labels)
	}
	if a.Severity != SeverityWarning || a.Value != 0.95 || !a.ActiveSince.Equal(t0) || !a.FiredAt.Equal(t0.Add(time.Minute)) || !a.NotifiedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("firing alert = %+v", a)
	}
	r := n3[0].Alert
	if r.State != StateResolved || !r.ResolvedAt.Equal(t0.Add(2*time.Minute)) || !r.FiredAt.Equal(a.FiredAt) || r.Value != 0.2 {
		t.Errorf("resolved alert = %+v", r)
	}
}

// TestEvaluateDoesNotAliasPrev: prev is the caller's; Evaluate must not
// change it, so a caller can compare before and after.
func TestEvaluateDoesNotAliasPrev(t *testing.T) {
	rule := Rule{Name: "r", Metric: MetricDisk, Op: ">", Value: 0.5, Severity: SeverityInfo}
	prev, _ := Evaluate([]Rule{rule}, []Point{pt(MetricDisk, "a/b/c", 0.9)}, nil, nil, t0)
	before, _ := json.Marshal(prev)
	Evaluate([]Rule{rule}, nil, prev, nil, t0.Add(time.Minute))
	after, _ := json.Marshal(prev)
	if string(before) != string(after) {
		t.Fatalf("prev changed:\n%s\n%s", before, after)
	}
}

// TestEvaluateGolden plays the four default rules over a scripted hour of
// one misbehaving instance and compares every pass's output with
// testdata/default-rules.golden.json (go test -update rewrites it).
func TestEvaluateGolden(t *testing.T) {
	type pass struct {
		At     string         `json:"at"`
		Alerts []Alert        `json:"alerts"`
		Notify []Notification `json:"notify"`
	}
	series := "mall/prod/api/i1"
	script := []struct {
		at                       time.Duration
		cpu, mem, disk, restarts float64
	}{
		{0, 0.5, 0.5, 0.5, 0},
		{30 * time.Second, 0.9, 0.95, 0.5, 0},
		{90 * time.Second, 0.9, 0.95, 0.9, 1},
		{5 * time.Minute, 0.9, 0.5, 0.9, 4},
		{6 * time.Minute, 0.9, 0.5, 0.9, 4},
		{7 * time.Minute, 0.3, 0.5, 0.9, 2},
		{11 * time.Minute, 0.3, 0.5, 0.7, 0},
		{30 * time.Minute, 0.3, 0.5, 0.7, 0},
	}
	var passes []pass
	var prev []Alert
	for _, s := range script {
		points := []Point{pt(MetricCPULimit, series, s.cpu), pt(MetricMemoryLimit, series, s.mem), pt(MetricDisk, series, s.disk), pt(MetricRestarts, series, s.restarts)}
		next, notify := Evaluate(DefaultRules(), points, prev, nil, t0.Add(s.at))
		passes = append(passes, pass{At: s.at.String(), Alerts: next, Notify: notify})
		prev = next
	}
	got, err := json.MarshalIndent(passes, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "default-rules.golden.json")
	golden.Check(t, path, got)
}
