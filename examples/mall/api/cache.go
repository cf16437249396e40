package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// cache stores response bodies for a short time. Implementations never
// fail a request: a broken cache reports a miss and drops writes.
type cache interface {
	Get(ctx context.Context, key string) ([]byte, bool)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration)
}

// noCache is the cache when REDIS_ADDR is empty.
type noCache struct{}

func (noCache) Get(context.Context, string) ([]byte, bool)         { return nil, false }
func (noCache) Set(context.Context, string, []byte, time.Duration) {}

// redisCache is a cache in Redis with a small circuit breaker: after an
// error it skips Redis for cooldown, so a dead Redis costs one timeout per
// cooldown instead of one per request.
type redisCache struct {
	rdb       *redis.Client
	log       *slog.Logger
	cooldown  time.Duration
	openUntil atomic.Int64 // unix nanoseconds; Redis is skipped before this
}

func newRedisCache(addr string, log *slog.Logger) *redisCache {
	redis.SetLogger(quietLogger{})
	return &redisCache{
		rdb: redis.NewClient(&redis.Options{
			Addr:         addr,
			DialTimeout:  300 * time.Millisecond,
			ReadTimeout:  300 * time.Millisecond,
			WriteTimeout: 300 * time.Millisecond,
			MaxRetries:   -1, // the breaker decides; retries would only add latency
			Protocol:     2,  // plain RESP2: no HELLO handshake needed
			// CLIENT SETINFO needs Redis 7.2; Debian bookworm ships 7.0.
			DisableIdentity: true,
		}),
		log:      log,
		cooldown: 2 * time.Second,
	}
}

func (c *redisCache) Get(ctx context.Context, key string) ([]byte, bool) {
	if c.open() {
		return nil, false
	}
	b, err := c.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false
	}
	if err != nil {
		c.trip(err)
		return nil, false
	}
	return b, true
}

func (c *redisCache) Set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	if c.open() {
		return
	}
	if err := c.rdb.Set(ctx, key, val, ttl).Err(); err != nil {
		c.trip(err)
	}
}

// Close releases the Redis connections.
func (c *redisCache) Close() error { return c.rdb.Close() }

func (c *redisCache) open() bool { return time.Now().UnixNano() < c.openUntil.Load() }

func (c *redisCache) trip(err error) {
	c.openUntil.Store(time.Now().Add(c.cooldown).UnixNano())
	c.log.Warn("redis unavailable, serving without cache", "cooldown", c.cooldown.String(), "err", err)
}

// quietLogger silences go-redis's own log lines; redisCache logs failures once
// per cooldown instead.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
