package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/adapters/eventbridge"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/prom"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// outboxSet builds the outbox dispatcher over the PostgreSQL queue, with its
// Prometheus metrics. It needs a ports.Mailer and a ports.EventPublisher
// (deliverySet provides the production ones), a ports.Clock, a
// prometheus.Registerer and the *bun.DB.
var outboxSet = wire.NewSet(
	postgres.NewOutboxQueue,
	wire.Bind(new(ports.OutboxQueue), new(*postgres.OutboxQueue)),
	prom.ProviderSet,
	wire.Struct(new(app.DispatcherPorts), "*"),
	newDispatcher,
)

// deliverySet provides the production delivery ports: the mail provider
// EMAIL_PROVIDER names and the EventBridge publisher.
var deliverySet = wire.NewSet(newMailer, newEventPublisher)

// newEventPublisher returns the EventBridge publisher for EVENT_BUS_NAME in
// AWS_REGION. It makes no request.
func newEventPublisher(ctx context.Context, cfg *config.Config) (ports.EventPublisher, error) {
	p, err := eventbridge.New(ctx, eventbridge.Config{Region: cfg.AWS.Region, BusName: cfg.Events.BusName, Source: cfg.Events.Source})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// newDispatcher returns the dispatcher with the OUTBOX_* settings; the
// attempt timeout and shutdown grace are the defaults.
func newDispatcher(cfg *config.Config, p app.DispatcherPorts, log *slog.Logger) (*app.Dispatcher, error) {
	dc := app.DefaultDispatcherConfig()
	dc.BatchSize = cfg.Outbox.BatchSize
	dc.Concurrency = cfg.Outbox.Concurrency
	dc.PollInterval = cfg.Outbox.PollInterval
	dc.Lease = cfg.Outbox.Lease
	dc.Retry = domain.RetryPolicy{MaxAttempts: cfg.Outbox.MaxAttempts, BaseDelay: cfg.Outbox.RetryBase, MaxDelay: cfg.Outbox.RetryMax}
	return app.NewDispatcher(p, dc, log.With("component", "outbox"))
}

// workerApp is what `gatehouse worker` runs.
type workerApp struct {
	Dispatcher *app.Dispatcher
	Schema     *postgres.SchemaProbe
	Metrics    prometheus.Gatherer
}

// runWorker runs the outbox dispatcher, with /metrics and /healthz on
// WORKER_METRICS_ADDR, until ctx is cancelled; then the dispatcher finishes
// or releases what it holds and the worker exits. Like serve, it refuses to
// start against an unreachable or unmigrated database.
func runWorker(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"worker takes no arguments"}
	}
	log := newLogger(stderr, getenv("LOG_LEVEL"))
	cfg, err := loadConfig(getenv, log)
	if err != nil {
		return err
	}
	w, cleanup, err := initWorker(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := w.Schema.Check(ctx); err != nil {
		return fmt.Errorf("refusing to start the worker: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Worker.MetricsAddr)
	if err != nil {
		return fmt.Errorf("worker metrics on WORKER_METRICS_ADDR: %w", err)
	}
	srv := &http.Server{Handler: workerHandler(w.Metrics, log), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("worker running", "metrics_addr", ln.Addr().String())

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	dispatched := make(chan error, 1)
	go func() { dispatched <- w.Dispatcher.Run(runCtx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-served:
		runErr = fmt.Errorf("worker metrics server: %w", err)
	}
	stop()
	runErr = errors.Join(runErr, <-dispatched)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	log.Info("worker stopped")
	return runErr
}

// workerHandler serves the worker's operational endpoints.
func workerHandler(metrics prometheus.Gatherer, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
