package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/haven-platform/haven/internal/driver"
	"github.com/haven-platform/haven/internal/spec"
)

// Reconnection backoff for the Engine's event stream.
const (
	eventsBackoffMin = 100 * time.Millisecond
	eventsBackoffMax = 5 * time.Second
)

// Events streams start, exit and health changes of Haven's containers from
// the Engine's event stream until ctx ends, then closes the channel. When the
// stream breaks (the daemon restarts) it reconnects with backoff and asks
// the Engine to replay from the last event seen, so no exit is lost.
func (d *Driver) Events(ctx context.Context) (<-chan driver.Event, error) {
	ch := make(chan driver.Event, 64)
	// Subscribing from "now" rather than from whenever the request reaches
	// the Engine closes the gap in which an exit right after this call
	// would be missed: the Engine replays what happened since.
	go d.watch(ctx, ch, time.Now())
	return ch, nil
}

func (d *Driver) watch(ctx context.Context, ch chan<- driver.Event, since time.Time) {
	defer close(ch)
	backoff := eventsBackoffMin
	var lastNano int64
	seenAtLast := map[string]bool{} // events already sent with timestamp lastNano
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		msgs, errs := d.cli.Events(sctx, events.ListOptions{
			Since: fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
			Filters: filters.NewArgs(
				filters.Arg("type", string(events.ContainerEventType)),
				filters.Arg("label", spec.LabelManaged+"=true"),
			),
		})
	recv:
		for {
			select {
			case <-ctx.Done():
				cancel()
				return
			case <-errs:
				break recv
			case m := <-msgs:
				backoff = eventsBackoffMin
				key := m.Actor.ID + " " + string(m.Action)
				if m.TimeNano < lastNano || (m.TimeNano == lastNano && seenAtLast[key]) {
					continue // replayed after a reconnection
				}
				if m.TimeNano > lastNano {
					lastNano, seenAtLast = m.TimeNano, map[string]bool{}
				}
				seenAtLast[key] = true
				since = time.Unix(0, m.TimeNano)
				ev, ok := eventFrom(m)
				if !ok {
					continue
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					cancel()
					return
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, eventsBackoffMax)
	}
}

// eventFrom maps an Engine container event to a driver event; ok is false
// for actions Haven does not follow and containers that are not instances.
func eventFrom(m events.Message) (driver.Event, bool) {
	l, ok := spec.ParseInstanceLabels(m.Actor.Attributes)
	if !ok {
		return driver.Event{}, false
	}
	ev := driver.Event{ID: m.Actor.ID, Labels: l, Time: time.Unix(0, m.TimeNano)}
	action := string(m.Action)
	switch {
	case action == string(events.ActionStart):
		ev.Kind = driver.EventStarted
	case action == string(events.ActionDie):
		ev.Kind = driver.EventExited
		ev.ExitCode = -1
		if n, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
			ev.ExitCode = n
		}
	case strings.HasPrefix(action, string(events.ActionHealthStatus)):
		// The Engine sends "health_status: healthy"; anything else (a bare
		// action, exec's "running") is not a NativeHealth value.
		_, status, found := strings.Cut(action, ":")
		status = strings.TrimSpace(status)
		if !found || (status != "starting" && status != "healthy" && status != "unhealthy") {
			return driver.Event{}, false
		}
		ev.Kind, ev.Health = driver.EventHealth, status
	default:
		return driver.Event{}, false
	}
	return ev, true
}
