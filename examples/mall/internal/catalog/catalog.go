// Package catalog is the mall's data in PostgreSQL: the schema, the seed
// products, and the queries the api and worker programs run.
//
// Migrate is safe when several replicas start at once: it serializes on a
// transaction-scoped advisory lock and only creates what is missing.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoProducts means a coupon was requested before any product exists.
var ErrNoProducts = errors.New("catalog: no products")

// migrateLockKey identifies the mall's schema lock among advisory locks
// ("mall" in ASCII).
const migrateLockKey int64 = 0x6d616c6c

// Product is an item for sale in one of the mall's stores.
type Product struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	PriceCents int    `json:"price_cents"`
	Store      string `json:"store"`
}

// Coupon is a discount on one product, issued by the worker.
type Coupon struct {
	ID          int64     `json:"id"`
	Code        string    `json:"code"`
	PercentOff  int       `json:"percent_off"`
	ProductID   int64     `json:"product_id"`
	ProductName string    `json:"product_name"`
	Store       string    `json:"store"`
	CreatedAt   time.Time `json:"created_at"`
}

const schema = `
CREATE TABLE IF NOT EXISTS products (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text    NOT NULL UNIQUE,
	price_cents integer NOT NULL CHECK (price_cents >= 0),
	store       text    NOT NULL
);
CREATE TABLE IF NOT EXISTS coupons (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	code        text        NOT NULL UNIQUE,
	percent_off integer     NOT NULL CHECK (percent_off BETWEEN 1 AND 90),
	product_id  bigint      NOT NULL REFERENCES products (id),
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS coupons_created_at_idx ON coupons (created_at DESC);
`

// seed is the mall's opening inventory.
var seed = []Product{
	{Name: "Linen summer shirt", PriceCents: 3900, Store: "Northwind Apparel"},
	{Name: "Selvedge denim jeans", PriceCents: 8900, Store: "Northwind Apparel"},
	{Name: "Merino wool scarf", PriceCents: 2900, Store: "Northwind Apparel"},
	{Name: "Noise-cancelling headphones", PriceCents: 19900, Store: "Volt Electronics"},
	{Name: "USB-C charging brick 65W", PriceCents: 3499, Store: "Volt Electronics"},
	{Name: "Mechanical keyboard", PriceCents: 12900, Store: "Volt Electronics"},
	{Name: "Single-origin coffee beans 1kg", PriceCents: 2450, Store: "Bean & Leaf"},
	{Name: "Matcha starter kit", PriceCents: 3200, Store: "Bean & Leaf"},
	{Name: "Ceramic pour-over dripper", PriceCents: 2800, Store: "Bean & Leaf"},
	{Name: "Trail running shoes", PriceCents: 11900, Store: "Summit Sports"},
	{Name: "Yoga mat, cork", PriceCents: 5900, Store: "Summit Sports"},
	{Name: "Insulated water bottle", PriceCents: 2499, Store: "Summit Sports"},
}

// Open returns a pool for url without connecting: connections are made on
// first use, so a program can start before PostgreSQL does.
func Open(url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx errors here may quote the URL, password included.
		return nil, errors.New("catalog: DATABASE_URL is not a valid PostgreSQL URL")
	}
	cfg.MaxConns = 5
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return pool, nil
}

// Ready waits until PostgreSQL answers and the schema is migrated, retrying
// with backoff (databases start slower than programs) until ctx is done.
func Ready(ctx context.Context, db *pgxpool.Pool, log *slog.Logger) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := pingAndMigrate(ctx, db)
		if err == nil {
			log.Info("database ready", "host", db.Config().ConnConfig.Host, "attempts", attempt)
			return nil
		}
		log.Warn("database not ready", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 3*time.Second)
	}
}

func pingAndMigrate(ctx context.Context, db *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return err
	}
	return Migrate(ctx, db)
}

// Migrate creates the schema if missing and inserts any missing seed
// products, in one transaction under an advisory lock.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		// CREATE TABLE IF NOT EXISTS races with itself across sessions;
		// the lock makes concurrent replicas take turns.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return fmt.Errorf("migrate: schema: %w", err)
		}
		batch := &pgx.Batch{}
		for _, p := range seed {
			batch.Queue(`INSERT INTO products (name, price_cents, store) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO NOTHING`, p.Name, p.PriceCents, p.Store)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("migrate: seed: %w", err)
		}
		return nil
	})
}

// Products returns every product, ordered by store and name.
func Products(ctx context.Context, db *pgxpool.Pool) ([]Product, error) {
	rows, err := db.Query(ctx, `SELECT id, name, price_cents, store FROM products ORDER BY store, name`)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	ps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Product])
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return ps, nil
}

// LatestCoupons returns the newest limit coupons, newest first.
func LatestCoupons(ctx context.Context, db *pgxpool.Pool, limit int) ([]Coupon, error) {
	rows, err := db.Query(ctx, `
		SELECT c.id, c.code, c.percent_off, c.product_id, p.name, p.store, c.created_at
		FROM coupons c JOIN products p ON p.id = c.product_id
		ORDER BY c.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("coupons: %w", err)
	}
	cs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Coupon])
	if err != nil {
		return nil, fmt.Errorf("coupons: %w", err)
	}
	return cs, nil
}

// IssueCoupon inserts a coupon with the given code and discount for a random
// product and returns it.
func IssueCoupon(ctx context.Context, db *pgxpool.Pool, code string, percentOff int) (Coupon, error) {
	rows, err := db.Query(ctx, `
		WITH pick AS (SELECT id, name, store FROM products ORDER BY random() LIMIT 1),
		ins AS (
			INSERT INTO coupons (code, percent_off, product_id)
			SELECT $1, $2, id FROM pick
			RETURNING id, code, percent_off, product_id, created_at
		)
		SELECT ins.id, ins.code, ins.percent_off, ins.product_id, pick.name, pick.store, ins.created_at
		FROM ins JOIN pick ON pick.id = ins.product_id`, code, percentOff)
	if err != nil {
		return Coupon{}, fmt.Errorf("issue coupon: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Coupon])
	if errors.Is(err, pgx.ErrNoRows) {
		return Coupon{}, ErrNoProducts
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("issue coupon: %w", err)
	}
	return c, nil
}
