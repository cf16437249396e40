package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		fmt.Printf("migrated %s\n", os.Getenv("VERSION"))
		code, _ := strconv.Atoi(envOr("MIGRATE_EXIT", "0"))
		os.Exit(code)
	}
	name := envOr("NAME", "testapp")
	errorRate, _ := strconv.ParseFloat(os.Getenv("ERROR_RATE"), 64)
	port := envOr("PORT", "8080")
	host, _ := os.Hostname()
	if d, err := time.ParseDuration(os.Getenv("START_DELAY")); err == nil {
		time.Sleep(d)
	}
	if n, err := strconv.Atoi(os.Getenv("LOG_LINES")); err == nil {
		for i := 1; i <= n; i++ {
			fmt.Printf("line %d\n", i)
		}
	}
	fmt.Fprintf(os.Stderr, "%s listening on :%s\n", name, port)
	stress()
	if d, err := time.ParseDuration(os.Getenv("EXIT_AFTER")); err == nil {
		code, _ := strconv.Atoi(envOr("EXIT_CODE", "1"))
		time.AfterFunc(d, func() {
			fmt.Fprintf(os.Stderr, "%s exiting with %d as asked\n", name, code)
			os.Exit(code)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("HEALTH_FAIL") == "1" {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		fmt.Fprintf(w, "%s %s slept %s\n", name, host, d)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/echo-headers", func(w http.ResponseWriter, r *http.Request) {
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "Host: %s\n", r.Host)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %s\n", k, r.Header.Get(k))
		}
	})
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		addr := r.URL.Query().Get("addr")
		if addr == "" {
			http.Error(w, "addr=host:port is required", http.StatusBadRequest)
			return
		}
		timeout := time.Second
		if s := r.URL.Query().Get("timeout"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				http.Error(w, "bad timeout "+strconv.Quote(s), http.StatusBadRequest)
				return
			}
			timeout = d
		}
		c, err := (&net.Dialer{Timeout: timeout}).DialContext(r.Context(), "tcp", addr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c.Close()
		fmt.Fprintln(w, "connected")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if errorRate > 0 && rand.Float64() < errorRate {
			http.Error(w, name+" failing as asked", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s %s\n", name, host, r.URL.Path)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			fmt.Fprintf(os.Stderr, "%s got %s\n", name, s)
			if os.Getenv("IGNORE_SIGTERM") == "1" {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
			os.Exit(0)
		}
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	select {} // Shutdown in progress; the signal goroutine exits
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// stress starts the load generators the environment asks for.
func stress() {
	if d, err := time.ParseDuration(os.Getenv("LOG_EVERY")); err == nil && d > 0 {
		go func() {
			for n := 1; ; n++ {
				fmt.Printf("tick %d %d\n", n, time.Now().UnixNano())
				time.Sleep(d)
			}
		}()
	}
	if os.Getenv("BURN_CPU") == "1" {
		go func() {
			for x := 0; ; x++ {
				_ = x * x
			}
		}()
	}
	if mb, err := strconv.Atoi(os.Getenv("LEAK_MB")); err == nil && mb > 0 {
		go func() {
			var kept [][]byte
			limit, _ := strconv.Atoi(os.Getenv("LEAK_MAX_MB"))
			for range time.Tick(time.Second) {
				if limit > 0 && (len(kept)+1)*mb > limit {
					continue
				}
				b := make([]byte, mb<<20)
				for i := range b { // touch every page so it is really resident
					b[i] = 1
				}
				kept = append(kept, b)
			}
		}()
	}
	if dir := os.Getenv("FILL_DIR"); dir != "" {
		go func() {
			chunk := make([]byte, 1<<20)
			for i := 0; ; i++ {
				if err := os.WriteFile(fmt.Sprintf("%s/fill-%05d", dir, i), chunk, 0o644); err != nil {
					fmt.Fprintf(os.Stderr, "disk full after %d MiB: %v\n", i, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
}
