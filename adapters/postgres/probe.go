package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// schemaCheckTTL is how long a successful schema comparison is trusted, so a
// busy /readyz costs a ping rather than a catalog inspection. Schema changes
// happen at deploy time; a few seconds' delay in noticing one is harmless.
const schemaCheckTTL = 15 * time.Second

// SchemaProbe is the "database" readiness check: the database answers, and
// its schema matches schema/schema.pg.hcl. It runs as the app role.
type SchemaProbe struct {
	db       *bun.DB
	migrator *Migrator
	ttl      time.Duration
	now      func() time.Time

	mu      sync.Mutex
	okUntil time.Time
}

var _ ports.Probe = (*SchemaProbe)(nil)

// NewSchemaProbe returns the probe for db, normally the app's connection.
func NewSchemaProbe(db *bun.DB) *SchemaProbe {
	return &SchemaProbe{db: db, migrator: NewMigrator(db.DB), ttl: schemaCheckTTL, now: time.Now}
}

// Name implements ports.Probe.
func (p *SchemaProbe) Name() string { return "database" }

// Check implements ports.Probe. It always pings; it compares the schema when
// the last successful comparison is older than a few seconds. An unreachable
// database is KindUnavailable; a schema that differs from the declared one is
// KindUnavailable with code "schema_out_of_date", a message that says to run
// `gatehouse migrate`, and a *SchemaDriftError listing the pending statements
// as its cause.
func (p *SchemaProbe) Check(ctx context.Context) error {
	const op = "postgres.SchemaProbe"
	if err := p.db.PingContext(ctx); err != nil {
		return translate(op, err)
	}
	now := p.now()
	p.mu.Lock()
	fresh := now.Before(p.okUntil)
	p.mu.Unlock()
	if fresh {
		return nil
	}
	pending, err := p.migrator.Pending(ctx)
	if err != nil {
		return &domain.Error{Kind: domain.KindOf(err), Op: op, Msg: "could not compare the database schema with the declared one", Err: err}
	}
	if len(pending) > 0 {
		return &domain.Error{
			Kind: domain.KindUnavailable,
			Code: "schema_out_of_date",
			Op:   op,
			Msg:  fmt.Sprintf("the database schema differs from the declared schema (%d change(s) pending): run `gatehouse migrate`", len(pending)),
			Err:  &SchemaDriftError{Statements: pending},
		}
	}
	p.mu.Lock()
	p.okUntil = now.Add(p.ttl)
	p.mu.Unlock()
	return nil
}
