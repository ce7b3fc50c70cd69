package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
)

const insufficientPrivilege = "42501"

// execInRollback runs stmt in a transaction that is always rolled back, so
// one database serves every case, and returns PostgreSQL's SQLSTATE ("" for
// success).
func execInRollback(t *testing.T, db *bun.DB, stmt string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, stmt)
	if err == nil {
		return ""
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("%s: got %v, want a PostgreSQL error or success", stmt, err)
	}
	return pgErr.Code
}

// Least privilege, asserted against the server: the app role reads and
// writes rows but cannot create, alter or drop anything; the migrator owns
// the schema's tables but cannot create schemas or leave its schema.
func TestRolePrivileges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	app, err := postgres.Open(ctx, cfg.DatabaseURL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	migrator, err := postgres.Open(ctx, cfg.MigrationsDatabaseURL(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer migrator.Close()

	const ok = ""
	tests := []struct {
		name         string
		stmt         string
		wantApp      string
		wantMigrator string
	}{
		{"create table", `CREATE TABLE gatehouse.intruder (id int)`, insufficientPrivilege, ok},
		{"alter table", `ALTER TABLE gatehouse.users ADD COLUMN intruder int`, insufficientPrivilege, ok},
		{"drop table", `DROP TABLE gatehouse.outbox`, insufficientPrivilege, ok},
		{"create index", `CREATE INDEX intruder_idx ON gatehouse.users (created_at)`, insufficientPrivilege, ok},
		{"truncate", `TRUNCATE gatehouse.outbox`, insufficientPrivilege, ok},
		{"create schema", `CREATE SCHEMA intruder`, insufficientPrivilege, insufficientPrivilege},
		{"create table in public", `CREATE TABLE public.intruder (id int)`, insufficientPrivilege, insufficientPrivilege},
		{"create temporary table", `CREATE TEMPORARY TABLE intruder (id int)`, insufficientPrivilege, insufficientPrivilege},
		{"insert", `INSERT INTO users (id, email, password_hash) VALUES (gen_random_uuid(), 'a@example.com', 'h')`, ok, ok},
		{"select", `SELECT count(*) FROM users, outbox`, ok, ok},
		{"update", `UPDATE outbox SET attempts = attempts + 1`, ok, ok},
		{"delete", `DELETE FROM users`, ok, ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := execInRollback(t, app, tt.stmt); got != tt.wantApp {
				t.Errorf("app role: got SQLSTATE %q, want %q", got, tt.wantApp)
			}
			if got := execInRollback(t, migrator, tt.stmt); got != tt.wantMigrator {
				t.Errorf("migrator role: got SQLSTATE %q, want %q", got, tt.wantMigrator)
			}
		})
	}
}
