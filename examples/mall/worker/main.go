// Command worker is the mall demo's background job: every COUPON_INTERVAL it
// issues a coupon for a random product into PostgreSQL and logs it.
//
// Configuration (environment):
//
//	COUPON_INTERVAL         time between coupons (default 5s)
//	PORT                    port of the /healthz endpoint (default 8080)
//	DATABASE_URL            PostgreSQL URL (default postgres://mall@postgres:5432/mall?sslmode=disable)
//	DATABASE_PASSWORD_FILE  file whose contents replace the URL's password
//
// It waits for PostgreSQL (retrying), creates the schema if the api has not
// yet, and exits cleanly on SIGTERM. /healthz is 200 while coupons are being
// issued; "worker -healthcheck" probes it and exits 0 or 1.
package main

import (
	"errors"
	"flag"
	"os"
	"time"

	"github.com/haven-platform/haven/examples/mall/internal/catalog"
	"github.com/haven-platform/haven/examples/mall/internal/env"
	"github.com/haven-platform/haven/examples/mall/internal/svc"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe a running worker's /healthz and exit 0 (healthy) or 1")
	flag.Parse()
	port := env.String("PORT", "8080")
	if *healthcheck {
		svc.HealthcheckMain(port)
	}
	log := svc.Logger("worker")
	if err := run(port); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

func run(port string) error {
	log := svc.Logger("worker")
	interval, err := env.Duration("COUPON_INTERVAL", 5*time.Second)
	if err != nil {
		return err
	}
	url, err := env.DatabaseURL()
	if err != nil {
		return err
	}
	ctx, stop := svc.SignalContext()
	defer stop()

	db, err := catalog.Open(url)
	if err != nil {
		return err
	}
	defer db.Close()

	w := &worker{db: db, log: log, interval: interval}
	served := make(chan error, 1)
	go func() { served <- svc.Serve(ctx, svc.NewServer(port, w.routes()), log) }()

	if err := catalog.Ready(ctx, db, log); err != nil {
		if errors.Is(err, ctx.Err()) {
			return <-served // stopped before the database came up
		}
		return err
	}
	w.loop(ctx)
	log.Info("stopped issuing coupons")
	return <-served
}
