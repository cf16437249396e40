package catalog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/haven-platform/haven/internal/testbin"
)

// TestAgainstPostgres runs Migrate concurrently, as replicas do at start,
// and then every query, against a throwaway PostgreSQL from the mall's
// image (or the database MALL_TEST_DATABASE_URL names).
func TestAgainstPostgres(t *testing.T) {
	url := os.Getenv("MALL_TEST_DATABASE_URL")
	if url == "" {
		url = testbin.StartMallPostgres(t) // a throwaway PostgreSQL from the mall's own image
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- Ready(ctx, db, log) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Ready: %v", err)
		}
	}

	ps, err := Products(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(seed) {
		t.Fatalf("%d products after concurrent migrations, want %d", len(ps), len(seed))
	}
	c, err := IssueCoupon(ctx, db, "TEST-"+time.Now().Format("150405.000000"), 15)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProductName == "" || c.PercentOff != 15 {
		t.Fatalf("coupon %+v", c)
	}
	cs, err := LatestCoupons(ctx, db, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 || cs[0].ID != c.ID {
		t.Fatalf("latest coupon is not the one just issued: %+v", cs)
	}
}
