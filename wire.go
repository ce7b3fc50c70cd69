//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/config"
)

// initServe builds `gatehouse serve`: the app role's database, the readiness
// probes and the HTTP API.
func initServe(ctx context.Context, cfg *config.Config, log *slog.Logger) (*serveApp, func(), error) {
	wire.Build(
		postgres.ProviderSet,
		httpapi.ProviderSet,
		wire.FieldsOf(new(*config.Config), "HTTP"),
		metricsSet,
		newProbes,
		wire.Struct(new(serveApp), "*"),
	)
	return nil, nil, nil
}

// initMigrate builds `gatehouse migrate`: the migrator role's connection and
// the Atlas-based migrator.
func initMigrate(ctx context.Context, cfg *config.Config) (*postgres.Migrator, func(), error) {
	wire.Build(postgres.ProvideMigrator)
	return nil, nil, nil
}
