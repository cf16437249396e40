package agent

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// LogLine is one line of a service's output, with the instance that wrote it.
type LogLine struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Stream   string    `json:"stream"`
	Text     string    `json:"text"`
}

// LogQuery selects a service's log lines.
type LogQuery struct {
	Env     spec.AppEnv
	Service string
	// Instance limits the lines to one instance id ("" for all).
	Instance string
	Since    time.Time
	Tail     int
	Follow   bool
}

// Logs calls fn with the service's log lines. Without Follow, lines of all
// its instances are merged in time order. With Follow, history is sent
// merged, then new lines as they come, including from instances started
// while following; it returns when ctx ends.
func (a *Agent) Logs(ctx context.Context, q LogQuery, fn func(LogLine) error) error {
	instances, err := a.serviceInstances(ctx, q)
	if err != nil {
		return err
	}
	var history []LogLine
	for _, inst := range instances {
		err := a.cfg.Driver.Logs(ctx, inst.ID, driver.LogOptions{Since: q.Since, Tail: q.Tail}, func(l driver.LogLine) error {
			history = append(history, LogLine{Time: l.Time, Instance: inst.Labels.Instance, Stream: l.Stream, Text: l.Text})
			return nil
		})
		if err != nil && ctx.Err() == nil {
			a.log.Debug("read logs", "instance", inst.Labels.Instance, "err", err)
		}
	}
	sort.SliceStable(history, func(i, j int) bool { return history[i].Time.Before(history[j].Time) })
	if q.Tail > 0 && len(history) > q.Tail {
		history = history[len(history)-q.Tail:]
	}
	last := map[string]time.Time{}
	for _, l := range history {
		if err := fn(l); err != nil {
			return err
		}
		last[l.Instance] = l.Time
	}
	if !q.Follow {
		return nil
	}
	return a.follow(ctx, q, last, fn)
}

// follow streams new lines of every instance of the service, checking for
// new instances every second.
func (a *Agent) follow(ctx context.Context, q LogQuery, last map[string]time.Time, fn func(LogLine) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan LogLine, 256)
	following := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		instances, err := a.serviceInstances(ctx, q)
		if err != nil {
			return err
		}
		for _, inst := range instances {
			if following[inst.ID] || !inst.Running {
				continue
			}
			following[inst.ID] = true
			// Lines up to the last one already sent are skipped; an instance
			// with no history yet is read from the query's start.
			since, seen := last[inst.Labels.Instance]
			if !seen {
				since = q.Since
			}
			wg.Add(1)
			go func(inst driver.Instance, since time.Time, seen bool) {
				defer wg.Done()
				_ = a.cfg.Driver.Logs(ctx, inst.ID, driver.LogOptions{Since: since, Follow: true}, func(l driver.LogLine) error {
					if seen && !l.Time.After(since) {
						return nil // already sent with the history
					}
					select {
					case lines <- LogLine{Time: l.Time, Instance: inst.Labels.Instance, Stream: l.Stream, Text: l.Text}:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			}(inst, since, seen)
		}
	drain:
		for {
			select {
			case <-ctx.Done():
				return nil
			case l := <-lines:
				if err := fn(l); err != nil {
					return err
				}
			case <-ticker.C:
				break drain
			}
		}
	}
}

func (a *Agent) serviceInstances(ctx context.Context, q LogQuery) ([]driver.Instance, error) {
	all, err := a.cfg.Driver.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []driver.Instance
	for _, inst := range all {
		l := inst.Labels
		if l.App == q.Env.App && l.Env == q.Env.Env && l.Service == q.Service && (q.Instance == "" || q.Instance == l.Instance) {
			out = append(out, inst)
		}
	}
	return out, nil
}
