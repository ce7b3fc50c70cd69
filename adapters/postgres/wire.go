package postgres

import (
	"context"

	"github.com/google/wire"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/config"
)

// ProviderSet provides the app's *bun.DB, the *Migrator (migrator role) and
// the *SchemaProbe. The probe is not bound to ports.Probe here: the root
// collects every adapter's probe into its own list.
var ProviderSet = wire.NewSet(ProvideDB, ProvideMigrator, NewSchemaProbe)

// ProvideDB opens the app role's connection (cfg.DB.DatabaseURL); the cleanup
// closes it.
func ProvideDB(ctx context.Context, cfg *config.Config) (*bun.DB, func(), error) {
	db, err := Open(ctx, cfg.DB.DatabaseURL(), cfg.DB.MaxConns)
	if err != nil {
		return nil, nil, err
	}
	return db, func() { _ = db.Close() }, nil
}

// ProvideMigrator opens the migrator role's connection
// (cfg.DB.MigrationsDatabaseURL); the cleanup closes it.
func ProvideMigrator(ctx context.Context, cfg *config.Config) (*Migrator, func(), error) {
	m, err := OpenMigrator(ctx, cfg.DB.MigrationsDatabaseURL())
	if err != nil {
		return nil, nil, err
	}
	return m, func() { _ = m.Close() }, nil
}
