// Command web serves the mall's storefront: static files embedded in the
// binary (an HTML page and a script that renders /api/products and
// /api/coupons, which the ingress routes to the api service on the same host).
//
// Configuration (environment): PORT, the listen port (default 8080).
// GET /healthz answers 200; "web -healthcheck" probes it and exits 0 or 1.
package main

import (
	"embed"
	"flag"
	"io/fs"
	"net/http"
	"os"

	"github.com/haven-platform/haven/examples/mall/internal/env"
	"github.com/haven-platform/haven/examples/mall/internal/svc"
)

//go:embed static
var static embed.FS

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe a running web's /healthz and exit 0 (healthy) or 1")
	flag.Parse()
	port := env.String("PORT", "8080")
	if *healthcheck {
		svc.HealthcheckMain(port)
	}
	log := svc.Logger("web")
	ctx, stop := svc.SignalContext()
	defer stop()
	if err := svc.Serve(ctx, svc.NewServer(port, routes()), log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

func routes() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	assets := http.FileServerFS(files)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Short caching: a new release should reach shoppers within a minute.
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		assets.ServeHTTP(w, r)
	}))
	return mux
}
