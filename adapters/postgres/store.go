package postgres

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/ports"
)

// Store keeps accounts and uploads in PostgreSQL: it implements ports.Tx,
// ports.UserStore, ports.TokenStore, ports.SessionStore, ports.RateLimiter,
// ports.Outbox and ports.UploadStore over one connection pool, so that all
// of them take part in the transaction WithinTx carries in the context.
//
// Every statement is written with PostgreSQL placeholders ($1, $2...) and run
// on the *sql.Tx of the transaction in the context, or else on the pgx pool
// behind the handle (see Open; the *sql.DB for a handle not made by Open),
// never through bun's own Exec/Query: bun writes argument values into the
// SQL text, so each call would be a new statement that pgx must parse and
// plan again (and that evicts the useful ones from its per-connection
// cache). With placeholders the text is fixed, pgx prepares it once per
// connection and afterwards sends only the values. The statements are few
// and small, so they are plain SQL rather than bun models.
type Store struct {
	db *bun.DB
	// pool is the pgx pool behind db when Open made it (nil otherwise):
	// single-row statements outside a transaction run on it directly.
	pool *pgxpool.Pool

	// purgeEvery is how many rate-limiter calls pass between two deletions
	// of expired windows; purgeBatch caps how many rows one deletion removes.
	purgeEvery uint64
	purgeBatch int
	calls      atomic.Uint64

	// expiredBatch caps how many rows one statement of PurgeExpired deletes.
	expiredBatch int
}

var (
	_ ports.Tx           = (*Store)(nil)
	_ ports.UserStore    = (*Store)(nil)
	_ ports.TokenStore   = (*Store)(nil)
	_ ports.SessionStore = (*Store)(nil)
	_ ports.RateLimiter  = (*Store)(nil)
	_ ports.Outbox       = (*Store)(nil)
	_ ports.UploadStore  = (*Store)(nil)
)

// NewStore returns the store over db, normally the app role's
// connection from Open.
func NewStore(db *bun.DB) *Store {
	return &Store{db: db, pool: poolOf(db.DB), purgeEvery: defaultPurgeEvery, purgeBatch: defaultPurgeBatch, expiredBatch: defaultExpiredBatch}
}

// querier is what both *sql.DB and *sql.Tx offer: statements run the same
// inside and outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn returns the transaction ctx carries for this store's database, or the
// pool.
func (s *Store) conn(ctx context.Context) querier {
	if tx, ok := s.tx(ctx); ok {
		return tx.Tx
	}
	return s.db.DB
}

// queryRow runs a statement that returns at most one row: on the
// transaction ctx carries, or else on the pgx pool itself, which binds the
// arguments and scans the columns straight into the destinations without
// database/sql's per-call connection, Rows and driver.Value work (the
// statements of every authenticated request go this way). Either way an
// empty result's Scan returns an error that is sql.ErrNoRows, and the
// destinations must be ones both database/sql and pgx scan into: plain
// values, pointers to pointers for NULLs, or sql.Scanner implementations.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if tx, ok := s.tx(ctx); ok {
		return tx.Tx.QueryRowContext(ctx, query, args...)
	}
	if s.pool != nil {
		return s.pool.QueryRow(ctx, query, args...)
	}
	return s.db.DB.QueryRowContext(ctx, query, args...)
}

// exec runs a statement without a result like queryRow and returns the
// number of rows it affected.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if _, ok := s.tx(ctx); ok {
		res, err := s.conn(ctx).ExecContext(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	return execDirect(ctx, s.pool, s.db.DB, query, args...)
}

// query runs a statement that returns rows, on the transaction ctx carries
// or else like queryDirect, and returns the rows with the function that
// releases them.
func (s *Store) query(ctx context.Context, query string, args ...any) (rowIter, func(), error) {
	if tx, ok := s.tx(ctx); ok {
		rows, err := tx.Tx.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { _ = rows.Close() }, nil
	}
	return queryDirect(ctx, s.pool, s.db.DB, query, args...)
}

// execDirect runs a statement without a result outside any transaction: on
// pool when there is one, else on db. It returns the number of rows the
// statement affected.
func execDirect(ctx context.Context, pool *pgxpool.Pool, db *sql.DB, query string, args ...any) (int64, error) {
	if pool != nil {
		tag, err := pool.Exec(ctx, query, args...)
		if err != nil {
			return 0, err
		}
		return tag.RowsAffected(), nil
	}
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// rowIter is the part of *sql.Rows and pgx.Rows that reading a result
// needs.
type rowIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// queryDirect runs a statement outside any transaction like execDirect and
// returns its rows, with the function that releases them.
func queryDirect(ctx context.Context, pool *pgxpool.Pool, db *sql.DB, query string, args ...any) (rowIter, func(), error) {
	if pool != nil {
		rows, err := pool.Query(ctx, query, args...)
		if err != nil {
			return nil, nil, err
		}
		return rows, rows.Close, nil
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	return rows, func() { _ = rows.Close() }, nil
}

// rowScanner is *sql.Row, *sql.Rows or pgx.Row.
type rowScanner interface {
	Scan(dest ...any) error
}

// utc returns t in UTC: pgx hands timestamptz back in the local zone, and the
// domain keeps times in UTC.
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr returns a nullable timestamp in UTC, as a copy.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Scan targets of the hot reads (sessions, uploads). pgx plans every
// column's scan anew on every query: into a pgtype value it plans
// directly, while a uuid into a *string, a timestamptz into a *time.Time
// or any nullable column into a pointer takes wrappers and a second round
// of planning, about 5% of the hot read's CPU in profiles. The pgtype
// values are sql.Scanners too, so the same targets serve database/sql.

// idOf returns a uuid column as the lowercase hyphenated text pgx gives a
// *string.
func idOf(u pgtype.UUID) (string, error) {
	if !u.Valid {
		return "", errors.New("NULL uuid")
	}
	var b [36]byte
	hex.Encode(b[0:8], u.Bytes[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u.Bytes[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u.Bytes[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u.Bytes[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u.Bytes[10:])
	return string(b[:]), nil
}

// timeOf returns a NOT NULL timestamptz column in UTC; like a scan into a
// *time.Time, it refuses NULL and infinity.
func timeOf(t pgtype.Timestamptz) (time.Time, error) {
	if !t.Valid {
		return time.Time{}, errors.New("NULL timestamptz")
	}
	if t.InfinityModifier != pgtype.Finite {
		return time.Time{}, errors.New("infinite timestamptz")
	}
	return t.Time.UTC(), nil
}

// timePtrOf returns a nullable timestamptz column in UTC, nil for NULL.
func timePtrOf(t pgtype.Timestamptz) (*time.Time, error) {
	if !t.Valid {
		return nil, nil
	}
	u, err := timeOf(t)
	if err != nil {
		return nil, err
	}
	return &u, nil
}
