package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/gatehouse/gatehouse/domain"
)

// Open connects to PostgreSQL with dsn (a postgres:// URL or key=value
// string, such as config.DB.DatabaseURL) through a pool of at most maxConns
// connections, checks the server answers, and returns a bun handle.
//
// Open refuses, before any network traffic, a dsn whose connection could end
// up unencrypted (sslmode disable, allow or prefer, or a Unix socket): that is
// a KindInvalid error. A server that cannot be reached or refuses the login is
// KindUnavailable. Statements go through pgx's per-connection statement cache,
// so queries with placeholders are prepared once per connection.
//
// The connections belong to a pgx pool (pgxpool) under the *sql.DB: bun and
// transactions borrow them through database/sql, while a Store made with
// NewStore runs single statements outside a transaction on the pool itself,
// skipping database/sql's per-row work on the hot path. Closing the returned
// handle closes the pool.
func Open(ctx context.Context, dsn string, maxConns int) (*bun.DB, error) {
	sqldb, err := openSQL(ctx, dsn, maxConns)
	if err != nil {
		return nil, err
	}
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// openSQL is Open without bun: a verified, pinged *sql.DB over a pgx pool.
func openSQL(ctx context.Context, dsn string, maxConns int) (*sql.DB, error) {
	const op = "postgres.Open"
	cfg, err := parseTLSOnly(dsn)
	if err != nil {
		return nil, err
	}
	if maxConns < 1 {
		maxConns = 1
	}
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err)
	}
	pcfg.ConnConfig = cfg
	pcfg.MaxConns = int32(min(maxConns, math.MaxInt32))
	// Recycle connections now and then so a failover or a rotated
	// certificate is picked up without a restart.
	pcfg.MaxConnLifetime = 30 * time.Minute
	pcfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, translate(op, err)
	}
	// database/sql holds no idle connections of its own (they stay in the
	// pool, for both kinds of use) and never more than the pool has.
	sqldb := sql.OpenDB(&poolConnector{Connector: stdlib.GetPoolConnector(pool), pool: pool})
	sqldb.SetMaxIdleConns(0)
	sqldb.SetMaxOpenConns(maxConns)
	if err := pool.Ping(ctx); err != nil {
		_ = sqldb.Close()
		return nil, translate(op, err)
	}
	return sqldb, nil
}

// poolConnector is pgx's database/sql connector over a pool, made to close
// the pool when the *sql.DB closes (database/sql closes a connector that is
// an io.Closer) and to let NewStore find the pool behind a *sql.DB.
type poolConnector struct {
	driver.Connector
	pool *pgxpool.Pool
}

// Driver returns the connector's driver, wrapped so that poolOf can find
// the pool.
func (c *poolConnector) Driver() driver.Driver {
	return poolDriver{Driver: c.Connector.Driver(), pool: c.pool}
}

// Close closes the pool.
func (c *poolConnector) Close() error {
	c.pool.Close()
	return nil
}

// poolDriver is what (*sql.DB).Driver returns for a handle made by Open.
type poolDriver struct {
	driver.Driver
	pool *pgxpool.Pool
}

// poolOf returns the pgx pool behind db, or nil when db was not made by
// Open.
func poolOf(db *sql.DB) *pgxpool.Pool {
	if d, ok := db.Driver().(poolDriver); ok {
		return d.pool
	}
	return nil
}

// parseTLSOnly parses dsn and makes sure every host pgx may try, including
// fallbacks, is reached over TLS. Parsing involves no network traffic.
func parseTLSOnly(dsn string) (*pgx.ConnConfig, error) {
	const op = "postgres.Open"
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors redact the password.
		return nil, &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: "the database connection string is not valid", Err: err}
	}
	insecure := cfg.TLSConfig == nil
	for _, fb := range cfg.Fallbacks {
		if fb.TLSConfig == nil {
			insecure = true
		}
	}
	if insecure {
		return nil, &domain.Error{
			Kind: domain.KindInvalid,
			Op:   op,
			Msg:  "the database connection could be unencrypted: use sslmode=require, verify-ca or verify-full over TCP (not disable, allow or prefer, and not a Unix socket)",
		}
	}
	return cfg, nil
}
