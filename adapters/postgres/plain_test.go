package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// openPlainAppDB connects as the app role through pgx's database/sql driver
// alone, as a caller that does not use Open would: no pgx pool behind it.
func openPlainAppDB(t *testing.T) *bun.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgtest.NewDB(t).DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(16)
	db := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { db.Close() })
	return db
}

// A Store and an OutboxQueue over a handle with no pgx pool run every
// statement through database/sql, and keep their contracts.
func TestContractsWithoutPgxPool(t *testing.T) {
	t.Parallel()
	t.Run("account stores", func(t *testing.T) {
		t.Parallel()
		db := openPlainAppDB(t)
		porttest.RunAccountStores(t, func(t *testing.T) porttest.AccountStores { return accountStores(t, db) })
	})
	t.Run("upload store", func(t *testing.T) {
		t.Parallel()
		db := openPlainAppDB(t)
		porttest.RunUploadStore(t, func(t *testing.T) porttest.UploadStores {
			s := postgres.NewStore(db)
			return porttest.UploadStores{Tx: s, Uploads: s, Users: s, Sessions: s}
		})
	})
	t.Run("outbox queue", func(t *testing.T) {
		t.Parallel()
		porttest.RunOutboxQueue(t, func(t *testing.T) porttest.QueueFixture {
			db := openPlainAppDB(t)
			return porttest.QueueFixture{
				Queue:   postgres.NewOutboxQueue(db),
				Enqueue: func(t *testing.T, msgs ...domain.OutboxMessage) { enqueueOutbox(t, db, msgs...) },
				Row:     func(t *testing.T, id string) porttest.QueueRow { return readQueueRow(t, db, id) },
			}
		})
	})
}
