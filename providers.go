package main

import (
	"log/slog"
	"time"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/s3"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// serveApp is what `gatehouse serve` runs.
type serveApp struct {
	Server     *httpapi.Server
	Schema     *postgres.SchemaProbe
	Dispatcher *app.Dispatcher
}

// metricsSet provides one Prometheus registry per process, with the Go
// runtime and process collectors, for every component that exports metrics.
var metricsSet = wire.NewSet(
	newRegistry,
	wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)),
	wire.Bind(new(prometheus.Gatherer), new(*prometheus.Registry)),
)

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newProbes lists the readiness checks behind /readyz.
func newProbes(schema *postgres.SchemaProbe) []ports.Probe {
	return []ports.Probe{schema}
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// accountsSet provides the accounts use cases over whatever adapter set
// binds the storage ports.
var accountsSet = wire.NewSet(
	wire.Struct(new(app.AccountStores), "*"),
	wire.InterfaceValue(new(ports.Clock), ports.Clock(systemClock{})),
	newAccounts,
)

// newAccounts builds the accounts use cases from the configuration. The
// session lifetimes and rate limits are the documented defaults (see
// domain.DefaultSessionPolicy and app.DefaultRateLimits).
func newAccounts(cfg *config.Config, stores app.AccountStores, hasher ports.PasswordHasher, clock ports.Clock, log *slog.Logger) (*app.Accounts, error) {
	return app.NewAccounts(stores, hasher, clock, app.AccountsConfig{
		AppBaseURL: cfg.App.BaseURL,
		Sessions:   domain.DefaultSessionPolicy(),
		Limits:     app.DefaultRateLimits(),
	}, log)
}

// uploadsSet provides the uploads use cases over the S3 bucket S3_BUCKET
// names and whatever adapter set binds the storage ports and the clock.
var uploadsSet = wire.NewSet(newS3Config, uploadsOverS3Set)

// uploadsOverS3Set is uploadsSet without the s3.Config, for an injector
// that reaches the bucket otherwise (dev's local S3, with its credentials).
var uploadsOverS3Set = wire.NewSet(
	s3.ProviderSet,
	wire.Struct(new(app.UploadStores), "*"),
	newUploads,
)

// newS3Config maps the UPLOAD_* and S3_* settings onto the S3 adapter's:
// clients PUT into the quarantine prefix, downloads come from the accepted
// one. Credentials come from the AWS SDK's default chain.
func newS3Config(cfg *config.Config) s3.Config {
	return s3.Config{
		Bucket:         cfg.Uploads.Bucket,
		Region:         cfg.AWS.Region,
		Endpoint:       cfg.Uploads.S3Endpoint,
		UsePathStyle:   cfg.Uploads.S3UsePathStyle,
		UploadPrefix:   cfg.Uploads.QuarantinePrefix,
		DownloadPrefix: cfg.Uploads.AcceptedPrefix,
	}
}

// newUploads builds the uploads use cases from the UPLOAD_* settings.
func newUploads(cfg *config.Config, stores app.UploadStores, objects ports.ObjectStore, clock ports.Clock, log *slog.Logger) (*app.Uploads, error) {
	u := cfg.Uploads
	uc := app.DefaultUploadsConfig()
	uc.Bucket = u.Bucket
	uc.QuarantinePrefix, uc.AcceptedPrefix = u.QuarantinePrefix, u.AcceptedPrefix
	uc.PutURLTTL, uc.GetURLTTL = u.PutURLTTL, u.GetURLTTL
	uc.Policy = domain.UploadPolicy{MaxSizeBytes: u.MaxBytes, AllowedContentTypes: u.AllowedTypes}
	uc.ScanStaleAfter, uc.ScanGiveUpAfter = u.ScanStaleAfter, u.ScanGiveUpAfter
	uc.PendingGrace = u.PendingGrace
	return app.NewUploads(stores, objects, clock, uc, log.With("component", "uploads"))
}
