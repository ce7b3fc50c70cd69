package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
)

// Statements on the pool and in transactions share one set of at most
// maxConns connections, and closing the handle closes every one of them.
func TestStorePoolIsBoundedAndClosedWithTheHandle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	observer, err := postgres.Open(ctx, cfg.DatabaseURL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	count := func() int {
		var n int
		if err := observer.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE usename = current_user AND datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	const maxConns = 3
	db, err := postgres.Open(ctx, cfg.DatabaseURL(), maxConns)
	if err != nil {
		t.Fatal(err)
	}
	s := postgres.NewStore(db)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		peak    int
		callErr error
	)
	for i := range 24 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				// Outside a transaction: on the pgx pool.
				_, _, err = s.SessionByTokenHash(ctx, domain.TokenHash{byte(i)})
			} else {
				// In a transaction: through database/sql.
				err = s.WithinTx(ctx, func(ctx context.Context) error {
					_, _, err := s.SessionByTokenHash(ctx, domain.TokenHash{byte(i)})
					time.Sleep(20 * time.Millisecond)
					return err
				})
			}
			if domain.KindOf(err) == domain.KindUnauthenticated {
				err = nil // no such session: the expected answer
			}
			n := count()
			mu.Lock()
			defer mu.Unlock()
			peak = max(peak, n)
			if err != nil && callErr == nil {
				callErr = err
			}
		})
	}
	wg.Wait()
	if callErr != nil {
		t.Fatalf("store call: %v", callErr)
	}
	if peak < 1 || peak > maxConns {
		t.Errorf("the store's connections peaked at %d, want 1..%d", peak, maxConns)
	}

	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connection(s) still open 10 s after Close", count())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := s.SessionByTokenHash(ctx, domain.TokenHash{1}); err == nil {
		t.Error("SessionByTokenHash after Close: got nil error, want one")
	}
}
