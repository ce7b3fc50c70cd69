package postgres_test

import (
	"context"
	"testing"

	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// openAppDB connects to a fresh migrated database as the app role, as the
// service does, with room for the contract suite's concurrent callers.
func openAppDB(t testing.TB) *bun.DB {
	t.Helper()
	cfg := pgtest.NewDB(t)
	db, err := postgres.Open(context.Background(), cfg.DatabaseURL(), 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// accountStores is the contract suite's view of a Store over db.
func accountStores(t *testing.T, db *bun.DB) porttest.AccountStores {
	s := postgres.NewStore(db)
	return porttest.AccountStores{
		Tx: s, Users: s, Tokens: s, Sessions: s, Limiter: s, Outbox: s,
		ReadOutbox: func(ctx context.Context) []domain.OutboxMessage { return readOutbox(t, ctx, db) },
	}
}

// readOutbox returns every committed outbox row.
func readOutbox(t *testing.T, ctx context.Context, db *bun.DB) []domain.OutboxMessage {
	t.Helper()
	rows, err := db.DB.QueryContext(ctx, `SELECT id, kind, topic, payload, created_at FROM outbox`)
	if err != nil {
		t.Fatalf("reading the outbox: %v", err)
	}
	defer rows.Close()
	var out []domain.OutboxMessage
	for rows.Next() {
		var (
			m    domain.OutboxMessage
			kind string
		)
		if err := rows.Scan(&m.ID, &kind, &m.Topic, &m.Payload, &m.CreatedAt); err != nil {
			t.Fatalf("reading the outbox: %v", err)
		}
		m.Kind = domain.OutboxKind(kind)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading the outbox: %v", err)
	}
	return out
}

// The Store passes the same contract as the in-memory stores, as the app
// role. The subtests share one database: each makes its own rows and keys,
// so sharing also shows they do not disturb each other.
func TestAccountStoresContract(t *testing.T) {
	t.Parallel()
	db := openAppDB(t)
	porttest.RunAccountStores(t, func(t *testing.T) porttest.AccountStores { return accountStores(t, db) })
}
