package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"ariga.io/atlas/sql/migrate"
	atlaspg "ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	gschema "github.com/gatehouse/gatehouse/schema"
)

// migrateLockKey serialises concurrent Apply calls (two release jobs, or a
// job and `gatehouse migrate` by hand) through a transaction-level advisory
// lock. The value is arbitrary but fixed: "gatehous" in ASCII.
const migrateLockKey int64 = 0x6761746568_6f7573

// Migrator compares the live schema "gatehouse" with schema/schema.pg.hcl
// and applies the difference, in process, with the atlas library. Apply
// needs the migrator role; Pending only reads the catalogs, so the app role
// can run it (the service does at start and in /readyz).
//
// The declared schema is compared as written, without a dev database to
// normalise it: schema.pg.hcl spells types, defaults and expressions the way
// PostgreSQL reports them, so the comparison is exact.
type Migrator struct {
	db   *sql.DB
	owns bool
}

// NewMigrator returns a Migrator that works through db. Closing the Migrator
// leaves db open.
func NewMigrator(db *sql.DB) *Migrator { return &Migrator{db: db} }

// OpenMigrator connects to dsn (normally config.DB.MigrationsDatabaseURL) with
// Open's TLS rules and returns a Migrator that owns the connection; Close
// releases it.
func OpenMigrator(ctx context.Context, dsn string) (*Migrator, error) {
	db, err := openSQL(ctx, dsn, 2)
	if err != nil {
		return nil, err
	}
	return &Migrator{db: db, owns: true}, nil
}

// Close releases the connection pool if the Migrator opened it.
func (m *Migrator) Close() error {
	if m.owns {
		return m.db.Close()
	}
	return nil
}

// Pending returns the SQL statements that would bring the live schema in
// line with the declared one, in order; none means the two match. It runs in
// a read-only transaction. Errors are KindUnavailable when the database
// cannot be reached and KindInternal otherwise.
func (m *Migrator) Pending(ctx context.Context) ([]string, error) {
	const op = "postgres.Migrator.Pending"
	tx, err := m.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, translate(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	plan, _, err := m.plan(ctx, tx)
	if err != nil {
		return nil, translate(op, err)
	}
	return statements(plan), nil
}

// Apply brings the live schema in line with the declared one in a single
// transaction and returns the statements it ran (none when nothing was
// pending). Concurrent Apply calls queue behind an advisory lock. A missing
// schema "gatehouse" is KindInvalid (the administrator's bootstrap,
// schema/roles.sql, creates it); a role without DDL rights gets KindInternal
// wrapping PostgreSQL's "permission denied".
func (m *Migrator) Apply(ctx context.Context) ([]string, error) {
	const op = "postgres.Migrator.Apply"
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Wait for other migrations, but never queue for long behind the
	// service's own row locks while holding DDL locks that block it.
	for _, stmt := range []string{
		"SET LOCAL lock_timeout = '30s'",
		fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrateLockKey),
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return nil, translate(op, err)
		}
	}
	plan, exists, err := m.plan(ctx, tx)
	if err != nil {
		return nil, translate(op, err)
	}
	if !exists {
		return nil, &domain.Error{
			Kind: domain.KindInvalid,
			Op:   op,
			Msg:  fmt.Sprintf("schema %q does not exist: an administrator must run schema/roles.sql first", config.SchemaName),
		}
	}
	// Run the plan ourselves rather than through the driver's ApplyChanges,
	// which flattens errors to strings: translate needs PostgreSQL's codes.
	done := make([]string, 0, len(plan.Changes))
	for _, c := range plan.Changes {
		if _, err := tx.ExecContext(ctx, c.Cmd, c.Args...); err != nil {
			return nil, translate(op, fmt.Errorf("%s: %w", c.Cmd, err))
		}
		done = append(done, c.Cmd)
	}
	if err := tx.Commit(); err != nil {
		return nil, translate(op, err)
	}
	return done, nil
}

// plan inspects the live schema through conn and plans the changes towards
// the declared one. exists reports whether the schema itself exists; when it
// does not, the plan starts with creating it.
func (m *Migrator) plan(ctx context.Context, conn schema.ExecQuerier) (plan *migrate.Plan, exists bool, err error) {
	drv, err := atlaspg.Open(conn)
	if err != nil {
		return nil, false, err
	}
	desired, err := Declared()
	if err != nil {
		return nil, false, err
	}
	exists = true
	current, err := drv.InspectSchema(ctx, config.SchemaName, &schema.InspectOptions{})
	if schema.IsNotExistError(err) {
		exists, current, err = false, schema.New(config.SchemaName), nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inspecting schema %s: %w", config.SchemaName, err)
	}
	// DiffNormalized: both sides are in PostgreSQL's canonical form (the
	// HCL is written that way), so check expressions are compared too, not
	// only their names.
	changes, err := drv.SchemaDiff(current, desired, schema.DiffNormalized())
	if err != nil {
		return nil, false, fmt.Errorf("comparing schema %s with the declared one: %w", config.SchemaName, err)
	}
	if !exists {
		changes = append([]schema.Change{&schema.AddSchema{S: desired}}, changes...)
	}
	if len(changes) == 0 {
		return &migrate.Plan{}, exists, nil
	}
	plan, err = drv.PlanChanges(ctx, "gatehouse", changes)
	if err != nil {
		return nil, false, fmt.Errorf("planning changes to schema %s: %w", config.SchemaName, err)
	}
	return plan, exists, nil
}

// Declared evaluates schema/schema.pg.hcl into atlas's model of schema
// "gatehouse".
func Declared() (*schema.Schema, error) {
	var s schema.Schema
	if err := atlaspg.EvalHCLBytes(gschema.HCL(), &s, nil); err != nil {
		return nil, fmt.Errorf("evaluating schema.pg.hcl: %w", err)
	}
	if s.Name != config.SchemaName {
		return nil, fmt.Errorf("schema.pg.hcl declares schema %q, want %q", s.Name, config.SchemaName)
	}
	return &s, nil
}

func statements(plan *migrate.Plan) []string {
	out := make([]string, 0, len(plan.Changes))
	for _, c := range plan.Changes {
		out = append(out, c.Cmd)
	}
	return out
}

// SchemaDriftError says the live schema differs from the declared one and
// lists the statements that would fix it.
type SchemaDriftError struct {
	Statements []string
}

func (e *SchemaDriftError) Error() string {
	return fmt.Sprintf("%d statement(s) pending: %s", len(e.Statements), strings.Join(e.Statements, "; "))
}

// IsSchemaDrift reports whether err says the live schema differs from the
// declared one.
func IsSchemaDrift(err error) bool {
	var d *SchemaDriftError
	return errors.As(err, &d)
}
