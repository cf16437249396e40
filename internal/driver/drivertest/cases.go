package drivertest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// testStartList: a started instance is listed running, with its labels and
// an address for port 8080 that the test process can reach.
func testStartList(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("web", nil))
	if !inst.Running {
		t.Errorf("Start returned Running=false")
	}
	got := f.find(f.d, inst.ID)
	if !got.Running {
		t.Errorf("listed Running=false right after Start")
	}
	if got.Labels != inst.Labels {
		t.Errorf("listed labels %+v, want %+v", got.Labels, inst.Labels)
	}
	if got.Addr(appPort) != inst.Addr(appPort) {
		t.Errorf("listed Addr(%d) = %q, Start returned %q", appPort, got.Addr(appPort), inst.Addr(appPort))
	}
	if got.StartedAt.IsZero() {
		t.Errorf("listed StartedAt is zero")
	}
	waitHTTP(t, got.Addr(appPort))
}

// testEnv: the service's environment reaches the instance.
func testEnv(t *testing.T, h Harness) {
	f := newFixture(t, h)
	name := "env-" + randHex(4)
	inst := f.start(f.service("web", map[string]string{"NAME": name}))
	body := waitHTTP(t, inst.Addr(appPort))
	if !strings.HasPrefix(body, name+" ") {
		t.Errorf("GET / = %q, want it to start with NAME %q", body, name)
	}
}

// testStopTerm: Stop delivers SIGTERM (testapp exits at once on it), the
// instance is gone afterwards, and stopping it again is not an error.
func testStopTerm(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("web", nil))
	waitHTTP(t, inst.Addr(appPort)) // testapp handles SIGTERM once it serves
	begin := time.Now()
	if err := f.d.Stop(f.ctx, inst.ID, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Stop took %s with a 10s grace: SIGTERM was not delivered or not waited for properly", took)
	}
	f.absent(f.d, inst.ID)
	if err := f.d.Stop(f.ctx, inst.ID, time.Second); err != nil {
		t.Errorf("second Stop of a stopped instance: %v, want nil", err)
	}
	if err := f.d.Stop(f.ctx, "no-such-instance-"+randHex(4), time.Second); err != nil {
		t.Errorf("Stop of an unknown instance: %v, want nil", err)
	}
}

// testStopKill: an instance that ignores SIGTERM is killed once the grace
// period is over, not before and not much later.
func testStopKill(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("stubborn", map[string]string{"IGNORE_SIGTERM": "1"}))
	waitHTTP(t, inst.Addr(appPort))
	const grace = time.Second
	begin := time.Now()
	if err := f.d.Stop(f.ctx, inst.ID, grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(begin)
	if took < grace {
		t.Errorf("Stop returned after %s, before the %s grace period: SIGKILL sent too early", took, grace)
	}
	if took >= grace+3*time.Second {
		t.Errorf("Stop took %s with a %s grace: SIGKILL escalation too late", took, grace)
	}
	f.absent(f.d, inst.ID)
}

// testExitEvent: an instance that exits on its own is reported through
// Events within a second, with its exit code, and stays listed as exited
// (for this and a new Driver value) until Remove.
func testExitEvent(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	events, err := f.d.Events(ctx)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	const exitAfter = 300 * time.Millisecond
	inst := f.start(f.service("job", map[string]string{"EXIT_AFTER": exitAfter.String(), "EXIT_CODE": "3"}))
	begin := time.Now()
	// exitAfter counts from the process start, which precedes Start's
	// return; 1s is the contract's detection bound, the rest is slack.
	limit := exitAfter + time.Second + 700*time.Millisecond
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var ev driver.Event
wait:
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("Events channel closed before the exit of %s", inst.ID)
			}
			if e.ID == inst.ID && e.Kind == driver.EventExited {
				ev = e
				break wait
			}
		case <-timer.C:
			t.Fatalf("no %s event for %s within %s of Start (EXIT_AFTER=%s)", driver.EventExited, inst.ID, limit, exitAfter)
		}
	}
	t.Logf("exit event %s after Start", time.Since(begin))
	if ev.ExitCode != 3 {
		t.Errorf("exit event ExitCode = %d, want 3", ev.ExitCode)
	}
	if ev.Labels != inst.Labels {
		t.Errorf("exit event labels %+v, want %+v", ev.Labels, inst.Labels)
	}
	if ev.Time.IsZero() {
		t.Errorf("exit event Time is zero")
	}

	for _, d := range []driver.Driver{f.d, h.New(t)} {
		got := f.find(d, inst.ID)
		if got.Running || got.ExitCode != 3 {
			t.Errorf("listed Running=%v ExitCode=%d after exit, want false, 3", got.Running, got.ExitCode)
		}
		if got.FinishedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) {
			t.Errorf("listed StartedAt %s FinishedAt %s, want a finish after the start", got.StartedAt, got.FinishedAt)
		}
		if got.Labels != inst.Labels {
			t.Errorf("listed labels %+v, want %+v", got.Labels, inst.Labels)
		}
	}
	if err := f.d.Remove(f.ctx, inst.ID); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	f.absent(f.d, inst.ID)
}

// testLogs: Logs returns every line in order with its stream; Tail and
// Since select the end; an unknown instance is ErrNotFound; Follow returns
// when its context ends.
func testLogs(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("web", map[string]string{"LOG_LINES": "5"}))
	all := f.waitLogs(inst.ID, "line 5", "listening on")

	var out []string
	var last time.Time
	for _, l := range all {
		if l.Time.IsZero() {
			t.Errorf("line %q has no time", l.Text)
		}
		if l.Stream != "stdout" {
			continue
		}
		out = append(out, l.Text)
		if l.Time.Before(last) {
			t.Errorf("stdout line %q is older (%s) than the line before it (%s)", l.Text, l.Time, last)
		}
		last = l.Time
	}
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5"}
	if strings.Join(out, "|") != strings.Join(want, "|") {
		t.Errorf("stdout lines = %q, want %q", out, want)
	}
	if i := indexOf(all, "listening on"); all[i].Stream != "stderr" {
		t.Errorf("line %q has stream %q, want stderr", all[i].Text, all[i].Stream)
	}

	for _, n := range []int{1, 2, len(all), len(all) + 10} {
		got := f.logs(f.d, inst.ID, driver.LogOptions{Tail: n})
		wantTail := all[max(0, len(all)-n):]
		if texts(got) != texts(wantTail) {
			t.Errorf("Tail %d = %s, want %s", n, texts(got), texts(wantTail))
		}
	}

	since := all[len(all)/2].Time
	var wantSince []driver.LogLine
	for _, l := range all {
		if !l.Time.Before(since) {
			wantSince = append(wantSince, l)
		}
	}
	if got := f.logs(f.d, inst.ID, driver.LogOptions{Since: since}); texts(got) != texts(wantSince) {
		t.Errorf("Since %s = %s, want %s", since, texts(got), texts(wantSince))
	}
	if got := f.logs(f.d, inst.ID, driver.LogOptions{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("Since an hour ahead = %s, want nothing", texts(got))
	}

	err := f.d.Logs(f.ctx, "no-such-instance-"+randHex(4), driver.LogOptions{}, func(driver.LogLine) error { return nil })
	if !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Logs of an unknown instance: %v, want ErrNotFound", err)
	}

	// Follow on a quiet instance: existing lines first, then it waits
	// until the context ends.
	ctx, cancel := context.WithCancel(f.ctx)
	first := make(chan driver.LogLine, 1)
	done := make(chan error, 1)
	go func() {
		done <- f.d.Logs(ctx, inst.ID, driver.LogOptions{Follow: true}, func(l driver.LogLine) error {
			select {
			case first <- l:
			default:
			}
			return nil
		})
	}()
	select {
	case l := <-first:
		if l.Text != all[0].Text {
			t.Errorf("Follow delivered %q first, want %q", l.Text, all[0].Text)
		}
	case err := <-done:
		cancel()
		t.Fatalf("Follow returned before its context ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Errorf("Follow delivered no line within 5s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Follow after cancel: %v, want nil or context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("Follow still running 2s after its context ended")
	}
}

// testLogsSince: Since selects by the time lines were written: a line the
// instance writes after the moment Since names is returned, earlier ones
// are not.
func testLogsSince(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("job", map[string]string{"EXIT_AFTER": "1s", "EXIT_CODE": "0"}))
	f.waitLogs(inst.ID, "listening on")
	since := time.Now()
	f.waitLogs(inst.ID, "exiting with 0")
	got := f.logs(f.d, inst.ID, driver.LogOptions{Since: since})
	if len(got) != 1 || !strings.Contains(got[0].Text, "exiting with 0") {
		t.Errorf("Since (after the start-up lines) = %s, want only the exit line", texts(got))
	}
	for _, l := range got {
		if l.Time.Before(since) {
			t.Errorf("Since %s returned line %q from %s", since, l.Text, l.Time)
		}
	}
}

// testLogsFollow: Follow delivers lines written after it began, and a
// non-nil error from fn ends it with that error.
func testLogsFollow(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("job", map[string]string{"EXIT_AFTER": "1s", "EXIT_CODE": "0"}))
	errEnough := errors.New("enough")
	var mu sync.Mutex
	var seen []string
	done := make(chan error, 1)
	go func() {
		done <- f.d.Logs(f.ctx, inst.ID, driver.LogOptions{Follow: true}, func(l driver.LogLine) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, l.Text)
			if strings.Contains(l.Text, "exiting with 0") {
				return errEnough
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errEnough) {
			t.Errorf("Follow returned %v, want fn's error", err)
		}
	case <-time.After(6 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("Follow did not deliver the exit line within 6s; got %q", seen)
	}
	mu.Lock()
	defer mu.Unlock()
	listening := -1
	for i, s := range seen {
		if strings.Contains(s, "listening on") {
			listening = i
		}
	}
	if listening < 0 {
		t.Errorf("Follow delivered %q, want the start-up line before the exit line", seen)
	}
}

// testAdopt: a second Driver value over the same runtime (what Haven has
// after a crash) lists the instance the first one started, identically,
// reads its logs and can stop it.
func testAdopt(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inst := f.start(f.service("web", map[string]string{"LOG_LINES": "2"}))
	waitHTTP(t, inst.Addr(appPort))
	before := f.find(f.d, inst.ID)

	d2 := h.New(t)
	got := f.find(d2, inst.ID)
	if !got.Running {
		t.Errorf("new Driver lists Running=false for a running instance")
	}
	if got.Labels != before.Labels {
		t.Errorf("new Driver lists labels %+v, want %+v", got.Labels, before.Labels)
	}
	if got.Addr(appPort) != inst.Addr(appPort) {
		t.Errorf("new Driver lists Addr(%d) = %q, want %q", appPort, got.Addr(appPort), inst.Addr(appPort))
	}
	if !got.StartedAt.Equal(before.StartedAt) {
		t.Errorf("new Driver lists StartedAt %s, want %s", got.StartedAt, before.StartedAt)
	}
	// Drivers may copy output into their logs a moment after it is written.
	waitFor(t, 5*time.Second, func() bool {
		return indexOf(f.logs(d2, inst.ID, driver.LogOptions{}), "line 2") >= 0
	}, "line 2 of %s in the new Driver's Logs", inst.ID)
	waitHTTP(t, got.Addr(appPort))

	if err := d2.Stop(f.ctx, inst.ID, 5*time.Second); err != nil {
		t.Fatalf("Stop through the new Driver: %v", err)
	}
	f.absent(d2, inst.ID)
	f.absent(f.d, inst.ID)
}

// testReplicas: two instances of one service run side by side, each at its
// own address.
func testReplicas(t *testing.T, h Harness) {
	f := newFixture(t, h)
	svc := f.service("web", nil)
	a, b := f.start(svc), f.start(svc)
	if a.ID == b.ID {
		t.Fatalf("two replicas share ID %s", a.ID)
	}
	if a.Addr(appPort) == b.Addr(appPort) {
		t.Fatalf("two replicas share address %s", a.Addr(appPort))
	}
	for _, inst := range []driver.Instance{a, b} {
		got := f.find(f.d, inst.ID)
		if !got.Running {
			t.Errorf("replica %s listed Running=false", inst.ID)
		}
		waitHTTP(t, inst.Addr(appPort))
	}
}

// testConcurrentStart: five Starts at once all succeed with distinct ids
// and addresses, and every instance serves.
func testConcurrentStart(t *testing.T, h Harness) {
	f := newFixture(t, h)
	svc := f.service("web", nil)
	const n = 5
	insts := make([]driver.Instance, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { insts[i], errs[i] = f.startErr(svc) })
	}
	wg.Wait()
	ids, addrs := map[string]bool{}, map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Start %d: %v", i, errs[i])
		}
		ids[insts[i].ID] = true
		addrs[insts[i].Addr(appPort)] = true
	}
	if len(ids) != n || len(addrs) != n {
		t.Fatalf("%d concurrent Starts gave %d distinct ids and %d distinct addresses", n, len(ids), len(addrs))
	}
	if got := len(f.list(f.d)); got != n {
		t.Errorf("List shows %d instances of the app, want %d", got, n)
	}
	for _, inst := range insts {
		waitHTTP(t, inst.Addr(appPort))
	}
	for i := range n {
		wg.Go(func() { errs[i] = f.d.Stop(f.ctx, insts[i].ID, 5*time.Second) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent Stop %d: %v", i, errs[i])
		}
	}
	if got := f.list(f.d); len(got) != 0 {
		t.Errorf("List shows %d instances after stopping all", len(got))
	}
}

// testEnsureEnv: EnsureEnv and RemoveEnv may be repeated, and RemoveEnv of
// an environment that never existed is not an error.
func testEnsureEnv(t *testing.T, h Harness) {
	f := newFixture(t, h)
	app := spec.App{Name: f.env.App, Volumes: []spec.Volume{{Name: "data"}}}
	for i := range 2 {
		if err := f.d.EnsureEnv(f.ctx, f.env, app); err != nil {
			t.Fatalf("EnsureEnv #%d: %v", i+1, err)
		}
	}
	for _, removeVolumes := range []bool{false, false, true, true} {
		if err := f.d.RemoveEnv(f.ctx, f.env, removeVolumes); err != nil {
			t.Fatalf("RemoveEnv(removeVolumes=%v): %v", removeVolumes, err)
		}
	}
	if err := f.d.EnsureEnv(f.ctx, f.env, app); err != nil {
		t.Fatalf("EnsureEnv after RemoveEnv: %v", err)
	}
	never := spec.AppEnv{App: "dt-" + randHex(4), Env: "never"}
	if err := f.d.RemoveEnv(f.ctx, never, true); err != nil {
		t.Errorf("RemoveEnv of an environment never ensured: %v", err)
	}
}

// texts renders lines as "[stream] text" for failure messages and
// comparisons.
func texts(lines []driver.LogLine) string {
	var b strings.Builder
	b.WriteString("[")
	for i, l := range lines {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s:%q", l.Stream, l.Text)
	}
	b.WriteString("]")
	return b.String()
}
