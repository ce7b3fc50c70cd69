package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/domain"
)

func openApp(t *testing.T, dsn string) *bun.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The probe passes on a migrated database and fails on drift with a message
// that tells the operator what to run.
func TestSchemaProbeReportsDrift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	app := openApp(t, cfg.DatabaseURL())

	probe := postgres.NewSchemaProbe(app)
	if got := probe.Name(); got != "database" {
		t.Errorf("got name %q, want %q", got, "database")
	}
	if err := probe.Check(ctx); err != nil {
		t.Fatalf("migrated database: got %v, want nil", err)
	}

	execAs(t, cfg.MigrationsDatabaseURL(), `ALTER TABLE gatehouse.outbox DROP COLUMN last_error`)
	err := postgres.NewSchemaProbe(app).Check(ctx)
	if err == nil {
		t.Fatal("after drift: got nil, want an error")
	}
	if got := domain.KindOf(err); got != domain.KindUnavailable {
		t.Errorf("got kind %v, want %v", got, domain.KindUnavailable)
	}
	if got := domain.CodeOf(err); got != "schema_out_of_date" {
		t.Errorf("got code %q, want %q", got, "schema_out_of_date")
	}
	if msg := domain.PublicMessage(err); !strings.Contains(msg, "gatehouse migrate") {
		t.Errorf("got message %q, want it to say to run gatehouse migrate", msg)
	}
	if !postgres.IsSchemaDrift(err) {
		t.Errorf("got %v, want a *SchemaDriftError in the chain", err)
	}
	if !strings.Contains(err.Error(), `"last_error"`) {
		t.Errorf("got %q, want the full error to list the pending statement", err)
	}
}

// A successful schema check is cached for a while, so /readyz is cheap; the
// ping is not, and the cache expires.
func TestSchemaProbeCachesSuccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := pgtest.NewDB(t)
	app := openApp(t, cfg.DatabaseURL())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := postgres.NewSchemaProbe(app)
	postgres.SetProbeClock(p, time.Minute, func() time.Time { return now })

	if err := p.Check(ctx); err != nil {
		t.Fatalf("first check: %v", err)
	}
	execAs(t, cfg.MigrationsDatabaseURL(), `DROP INDEX gatehouse.outbox_due_idx`)

	tests := []struct {
		name      string
		advance   time.Duration
		wantDrift bool
	}{
		{"within the cache period", 59 * time.Second, false},
		{"after the cache period", 2 * time.Second, true},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		err := p.Check(ctx)
		if got := postgres.IsSchemaDrift(err); got != tt.wantDrift {
			t.Errorf("%s: got %v, want drift=%v", tt.name, err, tt.wantDrift)
		}
	}
}

// An unreachable database is KindUnavailable, from the ping.
func TestSchemaProbeUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there any more
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://app:pw@127.0.0.1:%d/x?sslmode=require&connect_timeout=5", port))
	if err != nil {
		t.Fatal(err)
	}
	db := bun.NewDB(stdlib.OpenDB(*cfg), pgdialect.New())
	defer db.Close()

	err = postgres.NewSchemaProbe(db).Check(context.Background())
	if got := domain.KindOf(err); got != domain.KindUnavailable {
		t.Errorf("got kind %v (err %v), want %v", got, err, domain.KindUnavailable)
	}
}
