package main

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/haven-platform/haven/examples/mall/internal/catalog"
	"github.com/jackc/pgx/v5/pgxpool"
)

// codeAlphabet leaves out 0/O and 1/I, which shoppers misread.
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// worker issues coupons and reports whether it is keeping up.
type worker struct {
	db       *pgxpool.Pool
	log      *slog.Logger
	interval time.Duration
	lastOK   atomic.Int64 // unix nanoseconds of the last issued coupon
}

// loop issues one coupon at once and then one per interval until ctx is done.
func (w *worker) loop(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.issue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *worker) issue(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := catalog.IssueCoupon(ctx, w.db, newCode(), percentOff())
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			w.log.Error("issue coupon", "err", err)
		}
		return
	}
	w.lastOK.Store(time.Now().UnixNano())
	w.log.Info("coupon issued", "id", c.ID, "code", c.Code, "percent_off", c.PercentOff,
		"product_id", c.ProductID, "product", c.ProductName, "store", c.Store)
}

// healthy reports whether a coupon was issued within three intervals
// (at least 15s, so one slow insert is not an outage).
func (w *worker) healthy(now time.Time) bool {
	last := w.lastOK.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) <= max(3*w.interval, 15*time.Second)
}

func (w *worker) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if !w.healthy(time.Now()) {
			http.Error(rw, "no coupon issued recently", http.StatusServiceUnavailable)
			return
		}
		rw.Write([]byte("ok\n"))
	})
	return mux
}

// newCode returns a coupon code such as MALL-7KQ2XP.
func newCode() string {
	b := []byte("MALL-......")
	for i := 5; i < len(b); i++ {
		b[i] = codeAlphabet[randN(len(codeAlphabet))]
	}
	return string(b)
}

// percentOff returns a discount between 5 and 40 percent, in steps of 5.
func percentOff() int { return 5 * (1 + randN(8)) }

func randN(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return int(v.Int64())
}
