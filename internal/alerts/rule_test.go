package alerts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultRules(t *testing.T) {
	rules := DefaultRules()
	if err := ValidateRules(rules, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu-high":    "cpu_limit_ratio > 0.8 for 5m0s warning",
		"memory-high": "memory_limit_ratio > 0.9 for 1m0s critical",
		"disk-high":   "disk_ratio > 0.85 for 5m0s warning",
		"restarts":    "restarts_10m > 3 for 0s critical",
	}
	if len(rules) != len(want) {
		t.Fatalf("%d default rules, want %d", len(rules), len(want))
	}
	for _, r := range rules {
		got := r.Metric + " " + r.Op + " " + strconvG(r.Value) + " for " + r.For.D().String() + " " + r.Severity
		if got != want[r.Name] {
			t.Errorf("%s: %s, want %s", r.Name, got, want[r.Name])
		}
	}
}

func strconvG(v float64) string { b, _ := json.Marshal(v); return string(b) }

func TestParseRule(t *testing.T) {
	r, err := ParseRule([]byte(`{"name":"cpu-high","metric":"cpu_limit_ratio","op":">","value":0.8,"for":"5m","severity":"warning","labels":{"team":"web"},"repeat_interval":"1h"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.For.D() != 5*time.Minute || r.RepeatInterval.D() != time.Hour || r.Labels["team"] != "web" || r.Value != 0.8 {
		t.Fatalf("parsed %+v", r)
	}
	// A rule survives a JSON round trip unchanged.
	b, _ := json.Marshal(r)
	back, err := ParseRule(b, nil)
	if err != nil || back.For != r.For || back.Name != r.Name {
		t.Fatalf("round trip: %s -> %+v, %v", b, back, err)
	}
}

func TestRuleErrors(t *testing.T) {
	const ok = `"name":"x","metric":"cpu_limit_ratio","op":">","value":1,"severity":"info"`
	tests := []struct {
		name, json string
		known      []string
		field, msg string
	}{
		{"unknown metric", `{"name":"x","metric":"cpu_percent","op":">","value":1,"severity":"info"}`, nil, "metric", `"cpu_percent" is not a known metric; use one of cpu_limit_ratio, memory_limit_ratio, disk_ratio, restarts_10m`},
		{"metric known to the caller", `{"name":"x","metric":"cpu_percent","op":">","value":1,"severity":"info"}`, []string{"latency_p95"}, "metric", `use one of latency_p95`},
		{"missing metric", `{"name":"x","op":">","value":1,"severity":"info"}`, nil, "metric", "must not be empty"},
		{"bad op", `{"name":"x","metric":"disk_ratio","op":"=>","value":1,"severity":"info"}`, nil, "op", `"=>" must be one of >, >=, <, <=`},
		{"negative for", `{` + ok + `,"for":"-1m"}`, nil, "for", "-1m0s must not be negative"},
		{"bad for", `{` + ok + `,"for":"5 minutes"}`, nil, "for", `bad duration "5 minutes"`},
		{"for as a number", `{` + ok + `,"for":300}`, nil, "for", "bad duration 300"},
		{"bad repeat", `{` + ok + `,"repeat_interval":"soon"}`, nil, "repeat_interval", `bad duration "soon"`},
		{"bad severity", `{"name":"x","metric":"disk_ratio","op":">","value":1,"severity":"page"}`, nil, "severity", `"page" must be info, warning or critical`},
		{"no name", `{"metric":"disk_ratio","op":">","value":1,"severity":"info"}`, nil, "name", "must not be empty"},
		{"value of the wrong type", `{"name":"x","metric":"disk_ratio","op":">","value":"high","severity":"info"}`, nil, "value", "want float64, got string"},
		{"misspelt field", `{` + ok + `,"fro":"5m"}`, nil, "fro", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRule([]byte(tt.json), tt.known)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.msg) {
				t.Fatalf("err = %q, want field %q and message containing %q", err, tt.field, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("err %q does not start with its field", err)
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	rules := DefaultRules()
	rules[2].For = Duration(-time.Second)
	err := ValidateRules(rules, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "rules[2] (disk-high): for: ") {
		t.Fatalf("err = %v", err)
	}
	rules = append(DefaultRules(), DefaultRules()[0])
	err = ValidateRules(rules, nil)
	if err == nil || err.Error() != "rules[4] (cpu-high): name: already used by rules[0]" {
		t.Fatalf("err = %v", err)
	}
}
