package alerts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Delivery is the record of one attempt to deliver one notification to one
// target.
type Delivery struct {
	Time time.Time `json:"time"`
	// Target says where, without secrets: a webhook's host, an SMTP address.
	Target string `json:"target"`
	Alert  Alert  `json:"alert"`
	Kind   string `json:"kind"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// Attempt counts from 1 for each notification and target.
	Attempt int `json:"attempt"`
	// Final is true on the last attempt for this notification and target:
	// delivered, out of attempts, a permanent failure, or shut down.
	Final bool `json:"final"`
}

// DispatcherOptions tune a Dispatcher; zero values take the defaults.
type DispatcherOptions struct {
	// QueueSize bounds the notifications waiting per notifier (default 256);
	// beyond it new ones are dropped and counted.
	QueueSize int
	// MaxAttempts per notification and notifier (default 5).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after each
	// further one (default 1s: 1s, 2s, 4s, 8s), up to MaxBackoff (default 1m).
	Backoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one attempt (default 10s).
	AttemptTimeout time.Duration
	// KeepDeliveries is how many delivery records Deliveries keeps, newest
	// last (default 1000).
	KeepDeliveries int
	// OnDelivery, when set, is called with every record (from the delivery
	// goroutine), e.g. to persist it or publish an event. It must not block
	// for long: it holds up that notifier's queue.
	OnDelivery func(Delivery)
	// Now is the clock for delivery records (default time.Now).
	Now func() time.Time
}

// ErrQueueFull is returned by Dispatcher.Notify when a notifier's queue was
// full and the notification was dropped for it.
var ErrQueueFull = errors.New("alerts: notification queue full")

// ErrClosed is returned by Dispatcher.Notify after Close.
var ErrClosed = errors.New("alerts: dispatcher closed")

// Dispatcher delivers notifications to notifiers in the background: one
// bounded queue and one goroutine per notifier, so that a hung webhook
// delays neither the caller nor the email. Each delivery is retried with
// exponential backoff and every attempt is recorded.
//
// Its Notify never blocks (the control plane calls it from its loop); a
// notification that does not fit a queue is dropped and counted. A
// Dispatcher is itself a Notifier.
type Dispatcher struct {
	opts    DispatcherOptions
	targets []*target
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu         sync.RWMutex // guards closed against sends on closed queues
	closed     bool
	recMu      sync.Mutex
	deliveries []Delivery
	dropped    atomic.Int64
}

type target struct {
	name     string
	notifier Notifier
	queue    chan Notification
}

// NewDispatcher starts the delivery goroutines; Close stops them.
func NewDispatcher(notifiers []Notifier, opts DispatcherOptions) *Dispatcher {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 10 * time.Second
	}
	if opts.KeepDeliveries <= 0 {
		opts.KeepDeliveries = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dispatcher{opts: opts}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for i, n := range notifiers {
		t := &target{notifier: n, queue: make(chan Notification, opts.QueueSize)}
		if tn, ok := n.(Targeter); ok {
			t.name = tn.Target()
		} else {
			t.name = fmt.Sprintf("notifier[%d] %T", i, n)
		}
		d.targets = append(d.targets, t)
		d.wg.Add(1)
		go d.run(t)
	}
	return d
}

// Notify queues n for every notifier and returns at once. It returns
// ErrQueueFull (naming the targets) when a queue was full and n was dropped
// for it, ErrClosed after Close. ctx is not used: queuing does not wait.
func (d *Dispatcher) Notify(_ context.Context, n Notification) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	var full []string
	for _, t := range d.targets {
		select {
		case t.queue <- n:
		default:
			d.dropped.Add(1)
			full = append(full, t.name)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: dropped for %s", ErrQueueFull, strings.Join(full, ", "))
	}
	return nil
}

// Dropped is the number of (notification, notifier) pairs dropped because
// a queue was full.
func (d *Dispatcher) Dropped() int64 { return d.dropped.Load() }

// Deliveries returns the newest delivery records, oldest first.
func (d *Dispatcher) Deliveries() []Delivery {
	d.recMu.Lock()
	defer d.recMu.Unlock()
	return append([]Delivery(nil), d.deliveries...)
}

// Close stops accepting notifications, abandons queued ones and cancels
// attempts and backoffs in progress, and waits for the goroutines.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		d.cancel()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

func (d *Dispatcher) run(t *target) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case n := <-t.queue:
			d.deliver(t, n)
		}
	}
}

// deliver tries n on t until it is delivered, fails permanently, runs out
// of attempts or the dispatcher closes, recording each attempt.
func (d *Dispatcher) deliver(t *target, n Notification) {
	wait := d.opts.Backoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(d.ctx, d.opts.AttemptTimeout)
		err := t.notifier.Notify(ctx, n)
		cancel()
		var perm *PermanentError
		final := err == nil || errors.As(err, &perm) || attempt >= d.opts.MaxAttempts || d.ctx.Err() != nil
		rec := Delivery{Time: d.opts.Now(), Target: t.name, Alert: n.Alert, Kind: n.Kind, OK: err == nil, Attempt: attempt, Final: final}
		if err != nil {
			rec.Error = err.Error()
		}
		d.record(rec)
		if final {
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-d.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = min(wait*2, d.opts.MaxBackoff)
	}
}

func (d *Dispatcher) record(rec Delivery) {
	d.recMu.Lock()
	d.deliveries = append(d.deliveries, rec)
	if over := len(d.deliveries) - d.opts.KeepDeliveries; over > 0 {
		// Copy down rather than reslice, so the backing array does not grow forever.
		d.deliveries = append(d.deliveries[:0], d.deliveries[over:]...)
	}
	d.recMu.Unlock()
	if d.opts.OnDelivery != nil {
		d.opts.OnDelivery(rec)
	}
}
