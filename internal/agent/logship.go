package agent

import (
	"context"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/logs"
)

// LogStore keeps instances' output beyond the life of their instances
// (package logs).
type LogStore interface {
	Append(lines ...logs.Line) error
	Query(ctx context.Context, q logs.Query, fn func(logs.Line) error) error
}

// shipBatch and shipEvery bound how long a line waits before it is stored:
// `haven logs -f` shows a line within a second of the instance writing it.
const (
	shipBatch = 256
	shipEvery = 100 * time.Millisecond
)

// shipper follows one instance's output into the log store.
type shipper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// syncShippers starts a shipper for every instance that has none and
// stops those of instances that are gone. A shipper whose instance exited
// ends by itself once the driver has no more lines.
func (a *Agent) syncShippers(instances []driver.Instance) {
	if a.cfg.Logs == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	present := map[string]bool{}
	for _, inst := range instances {
		present[inst.ID] = true
		if _, ok := a.shippers[inst.ID]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &shipper{cancel: cancel, done: make(chan struct{})}
		a.shippers[inst.ID] = s
		go func(inst driver.Instance) {
			defer close(s.done)
			a.ship(ctx, inst)
		}(inst)
	}
	for id, s := range a.shippers {
		if !present[id] {
			s.cancel()
			delete(a.shippers, id)
		}
	}
}

// ship copies an instance's lines from after the last one stored (so a
// restarted server neither loses nor repeats lines) until the instance's
// output ends or ctx is cancelled.
func (a *Agent) ship(ctx context.Context, inst driver.Instance) {
	l := inst.Labels
	var last time.Time
	_ = a.cfg.Logs.Query(ctx, logs.Query{Env: l.Env, App: l.App, Service: l.Service, Instance: l.Instance, Tail: 1}, func(line logs.Line) error {
		last = line.Time
		return nil
	})
	var mu sync.Mutex
	var batch []logs.Line
	flush := func() {
		mu.Lock()
		b := batch
		batch = nil
		mu.Unlock()
		if len(b) > 0 {
			if err := a.cfg.Logs.Append(b...); err != nil {
				a.log.Warn("store log lines", "instance", l.Instance, "err", err)
			}
		}
	}
	tick := time.NewTicker(shipEvery)
	defer tick.Stop()
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-tick.C:
				flush()
			case <-stop:
				return
			}
		}
	}()
	_ = a.cfg.Driver.Logs(ctx, inst.ID, driver.LogOptions{Since: last, Follow: true}, func(d driver.LogLine) error {
		if !last.IsZero() && !d.Time.After(last) {
			return nil // stored before a restart
		}
		mu.Lock()
		batch = append(batch, logs.Line{Time: d.Time, Env: l.Env, App: l.App, Service: l.Service, Instance: l.Instance, Stream: d.Stream, Text: d.Text})
		full := len(batch) >= shipBatch
		mu.Unlock()
		if full {
			flush()
		}
		return nil
	})
	close(stop)
	flush()
}

// stopShippers ends every shipper and waits for their last lines to be
// stored: on a clean shutdown nothing an instance wrote is lost.
func (a *Agent) stopShippers() {
	a.mu.Lock()
	var all []*shipper
	for id, s := range a.shippers {
		all = append(all, s)
		delete(a.shippers, id)
	}
	a.mu.Unlock()
	for _, s := range all {
		s.cancel()
		<-s.done
	}
}
