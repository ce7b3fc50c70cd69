package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"
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
func Open(ctx context.Context, dsn string, maxConns int) (*bun.DB, error) {
	sqldb, err := openSQL(ctx, dsn, maxConns)
	if err != nil {
		return nil, err
	}
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// openSQL is Open without bun: a verified, pinged *sql.DB.
func openSQL(ctx context.Context, dsn string, maxConns int) (*sql.DB, error) {
	const op = "postgres.Open"
	cfg, err := parseTLSOnly(dsn)
	if err != nil {
		return nil, err
	}
	if maxConns < 1 {
		maxConns = 1
	}
	sqldb := stdlib.OpenDB(*cfg)
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	// Recycle connections now and then so a failover or a rotated
	// certificate is picked up without a restart.
	sqldb.SetConnMaxLifetime(30 * time.Minute)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqldb.PingContext(ctx); err != nil {
		_ = sqldb.Close()
		return nil, translate(op, err)
	}
	return sqldb, nil
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
