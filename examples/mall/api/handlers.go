package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/haven-platform/haven/examples/mall/internal/catalog"
)

// couponLimit is how many coupons GET /api/coupons returns.
const couponLimit = 20

// productsKey is the Redis key of the cached product list; bump the suffix
// when the JSON shape changes.
const productsKey = "mall:products:v1"

// store is what the handlers need from PostgreSQL.
type store interface {
	Ping(ctx context.Context) error
	Products(ctx context.Context) ([]catalog.Product, error)
	Coupons(ctx context.Context, limit int) ([]catalog.Coupon, error)
}

// api holds the handlers' dependencies.
type api struct {
	store    store
	cache    cache
	log      *slog.Logger
	ttl      time.Duration
	instance string      // container hostname, sent as X-Instance to show balancing
	ready    atomic.Bool // set once the schema is migrated
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/products", a.products)
	mux.HandleFunc("GET /api/coupons", a.coupons)
	mux.HandleFunc("GET /healthz", a.healthz)
	return a.withInstance(mux)
}

func (a *api) withInstance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.instance != "" {
			w.Header().Set("X-Instance", a.instance)
		}
		next.ServeHTTP(w, r)
	})
}

// products serves the product list from the cache when it can; a cache
// failure only costs a database query.
func (a *api) products(w http.ResponseWriter, r *http.Request) {
	if !a.checkReady(w) {
		return
	}
	if body, ok := a.cache.Get(r.Context(), productsKey); ok {
		w.Header().Set("X-Cache", "hit")
		writeJSONBytes(w, body)
		return
	}
	ps, err := a.store.Products(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := json.Marshal(ps)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.cache.Set(r.Context(), productsKey, body, a.ttl)
	w.Header().Set("X-Cache", "miss")
	writeJSONBytes(w, body)
}

func (a *api) coupons(w http.ResponseWriter, r *http.Request) {
	if !a.checkReady(w) {
		return
	}
	cs, err := a.store.Coupons(r.Context(), couponLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := json.Marshal(cs)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSONBytes(w, body)
}

// healthz is 200 only when the schema is ready and PostgreSQL answers now.
// Redis is deliberately not checked: without it the api is slower, not down.
func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "starting: database not ready", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.Warn("healthz: database ping failed", "err", err)
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

func (a *api) checkReady(w http.ResponseWriter) bool {
	if a.ready.Load() {
		return true
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, `{"error":"starting"}`, http.StatusServiceUnavailable)
	return false
}

func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", "path", r.URL.Path, "err", err)
	http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
}

func writeJSONBytes(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}
