//go:build wireinject

package main

import (
	"context"
	"log/slog"

	"github.com/google/wire"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/adapters/console"
	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/ports"
)

// initServe builds `gatehouse serve`: the app role's database, the readiness
// probes, the HTTP API and the outbox dispatcher (started unless
// OUTBOX_DISPATCHER_ENABLED is false).
func initServe(ctx context.Context, cfg *config.Config, log *slog.Logger) (*serveApp, func(), error) {
	wire.Build(
		postgres.ProviderSet,
		argon2id.ProviderSet,
		accountsSet,
		uploadsSet,
		httpapi.ProviderSet,
		wire.FieldsOf(new(*config.Config), "HTTP"),
		metricsSet,
		newProbes,
		outboxSet,
		deliverySet,
		wire.Struct(new(serveApp), "*"),
	)
	return nil, nil, nil
}

// initWorker builds `gatehouse worker`: the app role's database, the outbox
// dispatcher with the production mail provider and event publisher, and the
// metrics registry it reports to.
func initWorker(ctx context.Context, cfg *config.Config, log *slog.Logger) (*workerApp, func(), error) {
	wire.Build(
		postgres.ProviderSet,
		metricsSet,
		outboxSet,
		deliverySet,
		wire.InterfaceValue(new(ports.Clock), ports.Clock(systemClock{})),
		wire.Struct(new(workerApp), "*"),
	)
	return nil, nil, nil
}

// initLambda builds `gatehouse lambda`: the app role's database, the uploads
// use cases over the S3 bucket (for scan verdicts and the reconciler), and
// the outbox dispatcher with the production mail provider and event
// publisher (for scheduled sweeps).
func initLambda(ctx context.Context, cfg *config.Config, log *slog.Logger) (*lambdaApp, func(), error) {
	wire.Build(
		postgres.ProviderSet,
		uploadsSet,
		lambdaOutboxSet,
		deliverySet,
		wire.InterfaceValue(new(ports.Clock), ports.Clock(systemClock{})),
		wire.Struct(new(lambdaApp), "*"),
	)
	return nil, nil, nil
}

// initDev builds `gatehouse dev`: serve's graph (the app role's database,
// the readiness probes, the HTTP API, the uploads over the S3 bucket and the
// outbox dispatcher), with the local S3 server's credentials and, in place
// of the production mail provider and EventBridge, the console mailer and
// an event log that the caller passes in.
func initDev(ctx context.Context, cfg *config.Config, log *slog.Logger, creds devS3Credentials, mailer *console.Mailer, events *devEventLog) (*devApp, func(), error) {
	wire.Build(
		postgres.ProviderSet,
		argon2id.ProviderSet,
		accountsSet,
		newDevS3Config,
		uploadsOverS3Set,
		httpapi.ProviderSet,
		wire.FieldsOf(new(*config.Config), "HTTP"),
		metricsSet,
		newProbes,
		outboxSet,
		wire.Bind(new(ports.Mailer), new(*console.Mailer)),
		wire.Bind(new(ports.EventPublisher), new(*devEventLog)),
		wire.Struct(new(devApp), "*"),
	)
	return nil, nil, nil
}

// initMigrate builds `gatehouse migrate`: the migrator role's connection and
// the Atlas-based migrator.
func initMigrate(ctx context.Context, cfg *config.Config) (*postgres.Migrator, func(), error) {
	wire.Build(postgres.ProvideMigrator)
	return nil, nil, nil
}
