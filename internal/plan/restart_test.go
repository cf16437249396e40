package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/spec"
)

// TestRestartRetries: restart: on-failure:N starts a failed service again
// N times, then holds it as failed with a message naming the cap.
func TestRestartRetries(t *testing.T) {
	retries := func(n int) func(*spec.Service) {
		return func(s *spec.Service) { s.Restart, s.RestartRetries = spec.RestartOnFailure, n }
	}
	at := func(count int, desired string) Plan {
		return Decide(Input{
			App: app(svc("job", 1, retries(2))), Revisions: revs("job", desired),
			Instances: []Observed{exited("a", "job", "r1", 1)},
			Crashes:   map[string]Crashes{"job": {Count: count, Last: t0, Revision: "r1"}}, Now: t0.Add(time.Hour),
		})
	}
	starts := func(p Plan) int {
		n := 0
		for _, a := range p.Actions {
			if a.Kind == Start {
				n++
			}
		}
		return n
	}
	if p := at(2, "r1"); starts(p) != 1 {
		t.Errorf("after 2 failures with on-failure:2 the job is started again; plan %+v", p)
	}
	p := at(3, "r1")
	if starts(p) != 0 {
		t.Errorf("after the 2 restarts of on-failure:2 failed too, nothing starts; plan %+v", p)
	}
	if len(p.Holds) != 1 || p.Holds[0].Condition != spec.ServiceFailed || !strings.Contains(p.Holds[0].Message, "on-failure:2 gives up after 2 restarts") {
		t.Errorf("holds %+v, want one failed hold naming on-failure:2", p.Holds)
	}
	// A deploy of a change is a new revision: it gets its own N restarts.
	if p := at(3, "r2"); starts(p) != 1 || len(p.Holds) != 0 {
		t.Errorf("a new revision after on-failure:2 gave up is started; plan %+v", p)
	}
}
