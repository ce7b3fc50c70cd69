package postgres

import (
	"context"

	"github.com/google/wire"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/ports"
)

// ProviderSet provides the app's *bun.DB, the *Migrator (migrator role), the
// *SchemaProbe, and the *Store bound to the storage ports (ports.Tx,
// UserStore, TokenStore, SessionStore, RateLimiter, Outbox, UploadStore). The
// probe is not bound to ports.Probe here: the root collects every adapter's
// probe into its own list.
var ProviderSet = wire.NewSet(
	ProvideDB, ProvideMigrator, NewSchemaProbe,
	NewStore,
	wire.Bind(new(ports.Tx), new(*Store)),
	wire.Bind(new(ports.UserStore), new(*Store)),
	wire.Bind(new(ports.TokenStore), new(*Store)),
	wire.Bind(new(ports.SessionStore), new(*Store)),
	wire.Bind(new(ports.RateLimiter), new(*Store)),
	wire.Bind(new(ports.Outbox), new(*Store)),
	wire.Bind(new(ports.UploadStore), new(*Store)),
)

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
