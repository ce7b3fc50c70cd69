package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
)

func openMigrator(t *testing.T, dsn string) *postgres.Migrator {
	t.Helper()
	m, err := postgres.OpenMigrator(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func pending(t *testing.T, m *postgres.Migrator) []string {
	t.Helper()
	p, err := m.Pending(context.Background())
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return p
}

// execAs runs statements on the database behind dsn.
func execAs(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// A database from the harness is in sync with schema.pg.hcl, whichever role
// looks: the service (app role) checks this at start.
func TestPendingIsEmptyAfterApply(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDB(t)
	for _, role := range []struct{ name, dsn string }{
		{"migrator", cfg.MigrationsDatabaseURL()},
		{"app", cfg.DatabaseURL()},
	} {
		t.Run(role.name, func(t *testing.T) {
			if got := pending(t, openMigrator(t, role.dsn)); len(got) != 0 {
				t.Errorf("got pending %q, want none", got)
			}
		})
	}
}

// Apply on an empty database creates everything, reports what it ran, and
// leaves nothing pending; a second Apply has nothing to do.
func TestApplyOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewEmptyDB(t)
	m := openMigrator(t, cfg.MigrationsDatabaseURL())

	before := pending(t, m)
	ran, err := m.Apply(ctx)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff(before, ran); diff != "" {
		t.Errorf("Apply ran something else than Pending announced (-pending +ran):\n%s", diff)
	}
	for _, table := range []string{`"gatehouse"."users"`, `"gatehouse"."outbox"`} {
		if !containsAny(ran, "CREATE TABLE "+table) {
			t.Errorf("got statements %q, want one creating %s", ran, table)
		}
	}
	if got := pending(t, m); len(got) != 0 {
		t.Errorf("after Apply: got pending %q, want none", got)
	}
	again, err := m.Apply(ctx)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if len(again) != 0 {
		t.Errorf("second Apply: got %q, want nothing to do", again)
	}
}

func containsAny(stmts []string, substr string) bool {
	for _, s := range stmts {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// Any change the migrator makes behind schema.pg.hcl's back shows up in
// Pending, whichever role asks, with a statement that undoes it; Apply
// undoes it.
func TestPendingReportsDrift(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		drift string
		want  string // a fragment of the statement that repairs it
	}{
		{"dropped column", `ALTER TABLE gatehouse.users DROP COLUMN email_verified_at`, `ADD COLUMN "email_verified_at"`},
		{"dropped index", `DROP INDEX gatehouse.outbox_due_idx`, `CREATE INDEX "outbox_due_idx"`},
		{"dropped unique index", `DROP INDEX gatehouse.users_email_key`, `CREATE UNIQUE INDEX "users_email_key"`},
		{"dropped check", `ALTER TABLE gatehouse.outbox DROP CONSTRAINT outbox_status_check`, `"outbox_status_check"`},
		{"changed check", `ALTER TABLE gatehouse.outbox DROP CONSTRAINT outbox_attempts_check, ADD CONSTRAINT outbox_attempts_check CHECK (attempts >= 1)`, `"outbox_attempts_check"`},
		{"changed index predicate", `DROP INDEX gatehouse.outbox_due_idx; CREATE INDEX outbox_due_idx ON gatehouse.outbox (next_attempt_at) WHERE status = 'sent'`, `CREATE INDEX "outbox_due_idx"`},
		{"changed default", `ALTER TABLE gatehouse.outbox ALTER COLUMN attempts SET DEFAULT 1`, `"attempts"`},
		{"nullable column", `ALTER TABLE gatehouse.users ALTER COLUMN password_hash DROP NOT NULL`, `"password_hash"`},
		{"changed type", `ALTER TABLE gatehouse.outbox ALTER COLUMN payload TYPE json`, `"payload"`},
		{"extra table", `CREATE TABLE gatehouse.stray (id int)`, `DROP TABLE "gatehouse"."stray"`},
		{"dropped foreign key", `ALTER TABLE gatehouse.sessions DROP CONSTRAINT sessions_user_id_fkey`, `"sessions_user_id_fkey"`},
		{"changed foreign key action", `ALTER TABLE gatehouse.one_time_tokens DROP CONSTRAINT one_time_tokens_user_id_fkey, ADD CONSTRAINT one_time_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES gatehouse.users (id)`, `"one_time_tokens_user_id_fkey"`},
		{"changed primary key", `ALTER TABLE gatehouse.rate_limits DROP CONSTRAINT rate_limits_pkey, ADD PRIMARY KEY (key)`, `"rate_limits"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := pgtest.NewDB(t)
			execAs(t, cfg.MigrationsDatabaseURL(), tt.drift)
			for _, role := range []struct{ name, dsn string }{
				{"migrator", cfg.MigrationsDatabaseURL()},
				{"app", cfg.DatabaseURL()},
			} {
				got := pending(t, openMigrator(t, role.dsn))
				if !containsAny(got, tt.want) {
					t.Errorf("as %s: got pending %q, want a statement containing %q", role.name, got, tt.want)
				}
			}
			m := openMigrator(t, cfg.MigrationsDatabaseURL())
			if _, err := m.Apply(context.Background()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := pending(t, m); len(got) != 0 {
				t.Errorf("after Apply: got pending %q, want none", got)
			}
		})
	}
}

// The app role can look but not touch: Apply as the app fails with
// PostgreSQL's permission error inside, and changes nothing.
func TestApplyAsAppRoleIsRefused(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDB(t)
	execAs(t, cfg.MigrationsDatabaseURL(), `DROP INDEX gatehouse.outbox_due_idx`)
	app := openMigrator(t, cfg.DatabaseURL())

	_, err := app.Apply(context.Background())
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != insufficientPrivilege {
		t.Fatalf("got %v, want permission denied (42501)", err)
	}
	if got := domain.KindOf(err); got != domain.KindInternal {
		t.Errorf("got kind %v, want %v", got, domain.KindInternal)
	}
	if got := pending(t, app); len(got) != 1 {
		t.Errorf("got pending %q, want the one dropped index still pending", got)
	}
}

// Without schema "gatehouse" (roles.sql not run) Pending says to create it
// and Apply refuses with a message naming roles.sql, since the migrator may
// not create schemas.
func TestMissingSchema(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewEmptyDB(t)
	execAs(t, pgtest.AdminURL(t, cfg.Name), `DROP SCHEMA gatehouse CASCADE`)
	m := openMigrator(t, cfg.MigrationsDatabaseURL())

	got := pending(t, m)
	if len(got) == 0 || got[0] != `CREATE SCHEMA "gatehouse"` {
		t.Errorf("got pending %q, want it to start with CREATE SCHEMA \"gatehouse\"", got)
	}
	_, err := m.Apply(context.Background())
	if got := domain.KindOf(err); got != domain.KindInvalid {
		t.Errorf("got kind %v, want %v (err: %v)", got, domain.KindInvalid, err)
	}
	if !strings.Contains(domain.PublicMessage(err), "roles.sql") {
		t.Errorf("got message %q, want it to name roles.sql", domain.PublicMessage(err))
	}
}

// Two migrations at once (two release jobs) do not trip over each other: one
// applies, the other waits for it and then finds nothing to do.
func TestConcurrentApply(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewEmptyDB(t)
	ran := make([][]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range ran {
		m := openMigrator(t, cfg.MigrationsDatabaseURL())
		wg.Add(1)
		go func() {
			defer wg.Done()
			ran[i], errs[i] = m.Apply(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
	}
	if (len(ran[0]) == 0) == (len(ran[1]) == 0) {
		t.Errorf("got %d and %d statements, want exactly one Apply to do the work", len(ran[0]), len(ran[1]))
	}
	if got := pending(t, openMigrator(t, cfg.MigrationsDatabaseURL())); len(got) != 0 {
		t.Errorf("got pending %q, want none", got)
	}
}

// The declared schema names the schema the URLs select.
func TestDeclaredSchema(t *testing.T) {
	t.Parallel()
	s, err := postgres.Declared()
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != config.SchemaName {
		t.Errorf("got schema %q, want %q", s.Name, config.SchemaName)
	}
	var tables []string
	for _, tb := range s.Tables {
		tables = append(tables, tb.Name)
	}
	if diff := cmp.Diff([]string{"users", "outbox", "sessions", "one_time_tokens", "rate_limits", "uploads"}, tables); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
}
