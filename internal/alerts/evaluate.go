package alerts

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Alert states.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Notification kinds.
const (
	KindFiring   = "firing"
	KindRepeat   = "repeat"
	KindResolved = "resolved"
)

// KeepResolved is how long a resolved alert stays in the states after its
// resolution, so that `haven alerts` and the console still show what just
// happened, before Evaluate drops it.
const KeepResolved = 15 * time.Minute

// Point is the latest value of one metric for one series.
type Point struct {
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// Alert is the state of one rule on one series. Rule and Labels identify it.
type Alert struct {
	Rule string `json:"rule"`
	// Labels are the series labels with the rule's labels added (the rule's
	// win on a clash).
	Labels map[string]string `json:"labels"`
	// State is pending, firing or resolved.
	State string `json:"state"`
	// Value is the metric's latest value seen for the series.
	Value    float64 `json:"value"`
	Severity string  `json:"severity"`
	// ActiveSince is when the condition started to hold.
	ActiveSince time.Time `json:"active_since,omitzero"`
	FiredAt     time.Time `json:"fired_at,omitzero"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	// NotifiedAt is when the latest firing or repeat notification was
	// produced; zero while nobody has been told. It paces repeats and decides
	// whether a resolution is worth telling.
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	// SilencedBy is the ID of the silence muting the alert in the latest
	// pass, if any.
	SilencedBy string `json:"silenced_by,omitempty"`
}

// Series names the alert's series for people: app/env/service[/instance]
// when those labels are present (e.g. "mall/prod/api"), otherwise its
// labels as sorted name=value pairs.
func (a Alert) Series() string { return SeriesName(a.Labels) }

// SeriesName is Alert.Series for a label set.
func SeriesName(labels map[string]string) string {
	var parts []string
	for _, k := range []string{"app", "env", "service", "instance"} {
		if v := labels[k]; v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, "/")
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// Silence mutes the notifications of every alert whose labels have all of
// Matchers' values, until Until. The matcher "alertname" matches the rule's
// name. A silence without matchers mutes nothing: muting everything by
// accident is worse than a refused silence.
type Silence struct {
	ID       string            `json:"id"`
	Matchers map[string]string `json:"matchers"`
	Until    time.Time         `json:"until"`
	Comment  string            `json:"comment,omitempty"`
	By       string            `json:"by,omitempty"`
}

// Matches reports whether s mutes a at now.
func (s Silence) Matches(a Alert, now time.Time) bool {
	if len(s.Matchers) == 0 || !now.Before(s.Until) {
		return false
	}
	for k, v := range s.Matchers {
		got, ok := a.Labels[k]
		if k == "alertname" && !ok {
			got, ok = a.Rule, true
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}

// Notification is one message to send about an alert.
type Notification struct {
	Alert Alert `json:"alert"`
	// Kind is firing, repeat or resolved.
	Kind string `json:"kind"`
}

// Evaluate is one pass of the alert controller: from the rules, the latest
// point of each series, the states of the previous pass, the silences and
// the time, it returns the next states and the notifications to send.
// It is pure and deterministic: both results are sorted by rule, then
// series.
//
// For each rule and each point of its metric (and Match):
//   - condition true: a new alert is pending from now (firing at once when
//     For is zero); a pending one fires once it has held for For; a firing
//     one is announced again every repeat interval;
//   - condition false, or the series gone from points: a pending alert is
//     dropped without a word; a firing one resolves; a resolved one is
//     dropped KeepResolved after its resolution.
//
// Alerts of a rule no longer in rules are treated as gone. When two points
// name the same metric and series, the later one counts. Silenced alerts
// change state as usual but produce no notification.
func Evaluate(rules []Rule, points []Point, prev []Alert, silences []Silence, now time.Time) (next []Alert, notify []Notification) {
	prevBy := make(map[string]Alert, len(prev))
	for _, a := range prev {
		prevBy[alertKey(a.Rule, a.Labels)] = a
	}

	type observation struct {
		rule   Rule
		labels map[string]string
		value  float64
	}
	obs := make(map[string]observation)
	for _, r := range rules {
		for _, p := range points {
			if p.Metric != r.Metric || !hasAll(p.Labels, r.Match) {
				continue
			}
			labels := make(map[string]string, len(p.Labels)+len(r.Labels))
			maps.Copy(labels, p.Labels)
			maps.Copy(labels, r.Labels)
			obs[alertKey(r.Name, labels)] = observation{r, labels, p.Value}
		}
	}

	kinds := make(map[string]string)
	keep := func(k string, a Alert, kind string) {
		a.SilencedBy = silencedBy(silences, a, now)
		if kind != "" && a.SilencedBy == "" {
			if kind != KindResolved {
				a.NotifiedAt = now
			}
			kinds[k] = kind
		}
		next = append(next, a)
	}

	for k, o := range obs {
		a, had := prevBy[k]
		a.Rule, a.Labels, a.Value, a.Severity = o.rule.Name, o.labels, o.value, o.rule.Severity
		if o.rule.holds(o.value) {
			if !had || a.State == StateResolved {
				// A new episode: nothing of an earlier one carries over.
				a = Alert{Rule: a.Rule, Labels: a.Labels, Value: a.Value, Severity: a.Severity, State: StatePending, ActiveSince: now}
			}
			var kind string
			switch a.State {
			case StatePending:
				if now.Sub(a.ActiveSince) >= o.rule.For.D() {
					a.State, a.FiredAt = StateFiring, now
					kind = KindFiring
				}
			case StateFiring:
				switch {
				case a.NotifiedAt.IsZero():
					// Fired while silenced: announce it now that it may be.
					kind = KindFiring
				case now.Sub(a.NotifiedAt) >= o.rule.repeat():
					kind = KindRepeat
				}
			}
			// A silenced firing alert must not be recorded as told, so keep
			// checks the silence before setting NotifiedAt.
			keep(k, a, kind)
			continue
		}
		if had {
			if a, kind, ok := ended(a, now); ok {
				keep(k, a, kind)
			}
		}
	}
	for k, a := range prevBy {
		if _, ok := obs[k]; ok {
			continue
		}
		if a, kind, ok := ended(a, now); ok {
			keep(k, a, kind)
		}
	}

	sort.Slice(next, func(i, j int) bool {
		if next[i].Rule != next[j].Rule {
			return next[i].Rule < next[j].Rule
		}
		return labelString(next[i].Labels) < labelString(next[j].Labels)
	})
	for _, a := range next {
		if kind, ok := kinds[alertKey(a.Rule, a.Labels)]; ok {
			notify = append(notify, Notification{Alert: a, Kind: kind})
		}
	}
	return next, notify
}

// ended moves an alert whose condition no longer holds (or whose series is
// gone) on: pending is dropped, firing resolves, resolved ages out. ok is
// false when the alert is dropped. The resolution is worth a notification
// only when someone was told the alert fired.
func ended(a Alert, now time.Time) (next Alert, kind string, ok bool) {
	switch a.State {
	case StateFiring:
		a.State, a.ResolvedAt = StateResolved, now
		if !a.NotifiedAt.IsZero() {
			kind = KindResolved
		}
		return a, kind, true
	case StateResolved:
		return a, "", now.Sub(a.ResolvedAt) < KeepResolved
	}
	return a, "", false
}

func silencedBy(silences []Silence, a Alert, now time.Time) string {
	for _, s := range silences {
		if s.Matches(a, now) {
			if s.ID == "" {
				return "(unnamed)"
			}
			return s.ID
		}
	}
	return ""
}

func hasAll(labels, want map[string]string) bool {
	for k, v := range want {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func alertKey(rule string, labels map[string]string) string {
	return rule + "\x00" + labelString(labels)
}

// labelString is a canonical form of a label set, unambiguous because %q
// escapes the separators.
func labelString(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%q=%q,", k, labels[k])
	}
	return b.String()
}
