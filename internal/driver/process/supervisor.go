package process

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// pollInterval is how often an adopted process (not our child, so no
// wait(2)) is checked for its exit.
const pollInterval = 100 * time.Millisecond

// supervisor looks after one running instance for the Driver value holding
// the instance's lock: it copies output into the log, runs the exec health
// check, and records the exit.
type supervisor struct {
	d    *Driver
	dir  string
	lock *os.File // flock held for as long as the supervisor runs
	// exit delivers the exit code of a process we started (from wait(2));
	// nil for an adopted process, whose exit is found by polling /proc.
	exit chan int
	quit chan struct{} // closed by Driver.Close: stop, leave the process running
	done chan struct{} // closed once supervision has ended

	mu  sync.Mutex // guards rec and writes of it
	rec *record
}

func newSupervisor(d *Driver, dir string, lock *os.File, rec *record) *supervisor {
	return &supervisor{d: d, dir: dir, lock: lock, rec: rec, quit: make(chan struct{}), done: make(chan struct{})}
}

// reap waits for a process we started and hands its exit code to run. It
// outlives the supervisor if Close comes first: only wait(2) frees a child.
func (s *supervisor) reap(p *os.Process) {
	s.exit = make(chan int, 1)
	go func() {
		st, err := p.Wait()
		code := -1
		if err == nil {
			code = st.ExitCode()
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal()) // the shell's and Docker's convention: SIGKILL is 137
			}
		}
		s.exit <- code
	}()
}

func (s *supervisor) record() record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.rec
}

func (s *supervisor) run() {
	defer close(s.done)
	defer s.lock.Close() // releases the flock: another Driver may adopt
	defer s.d.unregister(s)
	id := s.rec.ID
	c, err := openCopier(s.dir)
	if err != nil {
		slog.Error("process driver: cannot copy output to the log", "instance", id, "err", err)
	} else {
		defer c.close()
	}
	copyLogs := func(final bool) {
		if c == nil {
			return
		}
		if err := c.copy(final); err != nil && !isGone(err) {
			slog.Error("process driver: copy output to the log", "instance", id, "err", err)
		}
	}

	stopHealth := make(chan struct{})
	var health sync.WaitGroup
	if chk := s.rec.Check; chk != nil && chk.Kind == spec.CheckExec && len(chk.Command) > 0 {
		health.Go(func() { s.checkHealth(stopHealth) })
	}

	tick := time.NewTicker(copyInterval)
	defer tick.Stop()
	lastPoll := time.Now()
	code := -1
wait:
	for {
		select {
		case code = <-s.exit:
			break wait
		case <-s.quit:
			close(stopHealth)
			health.Wait()
			copyLogs(false)
			return
		case <-tick.C:
			copyLogs(false)
			if s.exit == nil && time.Since(lastPoll) >= pollInterval {
				lastPoll = time.Now()
				rec := s.record()
				if !alive(&rec) {
					break wait
				}
			}
		}
	}
	close(stopHealth)
	health.Wait()
	rec := s.finish(code)
	// The leader is gone; whatever it spawned goes with it, as in a
	// container.
	killLeftovers(&rec)
	copyLogs(true)
	// The record says finished only once the log is complete, so a reader
	// that sees the exit also sees the last lines.
	s.mu.Lock()
	s.rec.Finished = true
	err = writeRecord(s.dir, s.rec)
	rec = *s.rec
	s.mu.Unlock()
	if err != nil && !isGone(err) {
		slog.Error("process driver: record exit", "instance", id, "err", err)
	}
	s.d.observe(&rec, false)
}

// finish notes the exit time and code (not yet written).
func (s *supervisor) finish(code int) record {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.FinishedAt = time.Now().UTC()
	s.rec.ExitCode = code
	return *s.rec
}

// checkHealth runs the exec health check every Interval with compose's
// semantics: the instance is "starting" until a check passes; failures
// during StartPeriod do not count while it is starting; Retries consecutive
// failures make it "unhealthy"; one success makes it "healthy" again.
func (s *supervisor) checkHealth(stop <-chan struct{}) {
	rec := s.record()
	chk := rec.Check.WithDefaults()
	status := rec.Health
	if status == "" {
		status = "starting"
	}
	failures := 0
	t := time.NewTicker(chk.Interval.D())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ok := runCheck(chk, rec, stop)
		next := status
		switch {
		case ok:
			failures, next = 0, "healthy"
		case status == "starting" && time.Since(rec.StartedAt) < chk.StartPeriod.D():
			// still starting: not counted
		default:
			failures++
			if failures >= chk.Retries {
				next = "unhealthy"
			}
		}
		if next == status {
			continue
		}
		status = next
		s.mu.Lock()
		if s.rec.Finished {
			s.mu.Unlock()
			return
		}
		s.rec.Health = status
		err := writeRecord(s.dir, s.rec)
		cur := *s.rec
		s.mu.Unlock()
		if err != nil && !isGone(err) {
			slog.Error("process driver: record health", "instance", rec.ID, "err", err)
		}
		s.d.observe(&cur, true)
	}
}

// runCheck runs the check's command on the host as the instance runs: its
// user, environment and working directory; exit status 0 is healthy.
// A check is not an instance: nothing records it, so it must not outlive
// its Haven. It dies with it (Pdeathsig), and everything it started is
// killed with it when it times out.
func runCheck(chk spec.HealthCheck, rec record, stop <-chan struct{}) bool {
	ctx, cancel := context.WithTimeout(context.Background(), chk.Timeout.D())
	defer cancel()
	// Supervision ending (exit, Stop, Close) ends a check under way: it must
	// not hold the supervisor for up to its timeout.
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	cmd := exec.CommandContext(ctx, chk.Command[0], chk.Command[1:]...)
	cmd.Env, cmd.Dir = rec.Env, rec.Dir
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if rec.Cred != nil {
		// Never Haven's rights: the command comes from compose and may run
		// what the app can write.
		attr.Credential = &syscall.Credential{Uid: rec.Cred.UID, Gid: rec.Cred.GID}
	}
	cmd.SysProcAttr = attr
	// A timed-out check is killed with everything it started, or a hung
	// grandchild would hold the check's output pipe open.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	// Pdeathsig fires when the thread that forked the check ends, not the
	// process: keep this goroutine on that thread until the check is over.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Run() == nil
}

// event renders a record change as a driver event.
func event(rec *record, kind driver.EventKind) driver.Event {
	ev := driver.Event{ID: rec.ID, Labels: rec.Labels, Kind: kind, Health: rec.Health, Time: time.Now().UTC()}
	if kind == driver.EventExited {
		ev.ExitCode = -1
		if rec.Finished {
			ev.ExitCode = rec.ExitCode
		}
		if !rec.FinishedAt.IsZero() {
			ev.Time = rec.FinishedAt
		}
	}
	return ev
}
