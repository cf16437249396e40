package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/haven-platform/haven/examples/mall/internal/catalog"
)

type fakeStore struct {
	pingErr  error
	queries  int
	products []catalog.Product
}

func (s *fakeStore) Ping(context.Context) error { return s.pingErr }

func (s *fakeStore) Products(context.Context) ([]catalog.Product, error) {
	s.queries++
	return s.products, nil
}

func (s *fakeStore) Coupons(_ context.Context, limit int) ([]catalog.Coupon, error) {
	return []catalog.Coupon{{ID: 1, Code: "MALL-ABC123", PercentOff: 15, ProductID: 1}}, nil
}

// mapCache is an in-memory cache; broken makes every Get miss, like a
// redisCache whose breaker is open.
type mapCache struct {
	m      map[string][]byte
	broken bool
}

func (c *mapCache) Get(_ context.Context, k string) ([]byte, bool) {
	if c.broken {
		return nil, false
	}
	v, ok := c.m[k]
	return v, ok
}

func (c *mapCache) Set(_ context.Context, k string, v []byte, _ time.Duration) {
	if !c.broken {
		c.m[k] = v
	}
}

func newTestAPI(s *fakeStore, c cache) *api {
	a := &api{store: s, cache: c, log: slog.New(slog.NewTextHandler(io.Discard, nil)), ttl: time.Second}
	a.ready.Store(true)
	return a
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestProductsCache(t *testing.T) {
	s := &fakeStore{products: []catalog.Product{{ID: 1, Name: "Mug", PriceCents: 900, Store: "Bean & Leaf"}}}
	h := newTestAPI(s, &mapCache{m: map[string][]byte{}}).routes()

	for i, want := range []string{"miss", "hit", "hit"} {
		rec := get(t, h, "/api/products")
		if rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != want {
			t.Fatalf("request %d: status %d X-Cache %q, want 200 %q", i, rec.Code, rec.Header().Get("X-Cache"), want)
		}
		var got []catalog.Product
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 || got[0].Name != "Mug" {
			t.Fatalf("request %d: body %s (%v)", i, rec.Body, err)
		}
	}
	if s.queries != 1 {
		t.Errorf("database queried %d times, want 1", s.queries)
	}
}

func TestProductsWithoutCache(t *testing.T) {
	s := &fakeStore{}
	h := newTestAPI(s, &mapCache{m: map[string][]byte{}, broken: true}).routes()
	for range 2 {
		if rec := get(t, h, "/api/products"); rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != "miss" {
			t.Fatalf("status %d X-Cache %q", rec.Code, rec.Header().Get("X-Cache"))
		}
	}
	if s.queries != 2 {
		t.Errorf("database queried %d times, want 2", s.queries)
	}
}

func TestHealthz(t *testing.T) {
	s := &fakeStore{}
	a := newTestAPI(s, noCache{})
	h := a.routes()
	if rec := get(t, h, "/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("healthy: %d", rec.Code)
	}
	s.pingErr = errors.New("connection refused")
	if rec := get(t, h, "/healthz"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("ping failing: %d, want 503", rec.Code)
	}
	s.pingErr = nil
	a.ready.Store(false)
	if rec := get(t, h, "/healthz"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("not migrated: %d, want 503", rec.Code)
	}
	if rec := get(t, h, "/api/products"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("products before ready: %d, want 503", rec.Code)
	}
}

func TestCoupons(t *testing.T) {
	rec := get(t, newTestAPI(&fakeStore{}, noCache{}).routes(), "/api/coupons")
	var got []catalog.Coupon
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 || got[0].Code != "MALL-ABC123" {
		t.Fatalf("status %d body %s (%v)", rec.Code, rec.Body, err)
	}
}

func TestRedisCacheDegrades(t *testing.T) {
	// Nothing listens on port 1: every call fails fast and trips the breaker.
	c := newRedisCache("127.0.0.1:1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Close()
	if _, ok := c.Get(context.Background(), "k"); ok {
		t.Fatal("want a miss from a dead Redis")
	}
	if !c.open() {
		t.Fatal("breaker should be open after a failure")
	}
	start := time.Now()
	c.Set(context.Background(), "k", []byte("v"), time.Second)
	if _, ok := c.Get(context.Background(), "k"); ok || time.Since(start) > 50*time.Millisecond {
		t.Fatal("an open breaker must skip Redis")
	}
}
