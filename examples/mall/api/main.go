// Command api is the mall demo's JSON API: products (cached in Redis for a
// few seconds) and the latest coupons, both from PostgreSQL.
//
// Configuration (environment):
//
//	PORT                    listen port (default 8080)
//	DATABASE_URL            PostgreSQL URL (default postgres://mall@postgres:5432/mall?sslmode=disable)
//	DATABASE_PASSWORD_FILE  file whose contents replace the URL's password
//	REDIS_ADDR              host:port of Redis; empty disables the cache
//
// The server starts at once; /healthz answers 200 only after PostgreSQL
// answers and the schema is migrated. "api -healthcheck" probes a running
// instance's /healthz and exits 0 or 1, for compose healthchecks in the
// scratch image.
package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/haven-platform/haven/examples/mall/internal/catalog"
	"github.com/haven-platform/haven/examples/mall/internal/env"
	"github.com/haven-platform/haven/examples/mall/internal/svc"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe a running api's /healthz and exit 0 (healthy) or 1")
	flag.Parse()
	port := env.String("PORT", "8080")
	if *healthcheck {
		svc.HealthcheckMain(port)
	}
	log := svc.Logger("api")
	if err := run(port); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

func run(port string) error {
	log := svc.Logger("api")
	ctx, stop := svc.SignalContext()
	defer stop()

	url, err := env.DatabaseURL()
	if err != nil {
		return err
	}
	db, err := catalog.Open(url)
	if err != nil {
		return err
	}
	defer db.Close()

	var c cache = noCache{}
	if addr := env.String("REDIS_ADDR", ""); addr != "" {
		rc := newRedisCache(addr, log)
		defer rc.Close()
		c = rc
	} else {
		log.Info("REDIS_ADDR is empty: products are not cached")
	}

	a := &api{store: pgStore{db}, cache: c, log: log, ttl: 5 * time.Second}
	a.instance, _ = os.Hostname()
	go func() {
		if err := catalog.Ready(ctx, db, log); err == nil {
			a.ready.Store(true)
		}
	}()
	return svc.Serve(ctx, svc.NewServer(port, a.routes()), log)
}

// pgStore adapts the catalog queries to the store interface.
type pgStore struct{ db *pgxpool.Pool }

func (s pgStore) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

func (s pgStore) Products(ctx context.Context) ([]catalog.Product, error) {
	return catalog.Products(ctx, s.db)
}

func (s pgStore) Coupons(ctx context.Context, limit int) ([]catalog.Coupon, error) {
	return catalog.LatestCoupons(ctx, s.db, limit)
}
