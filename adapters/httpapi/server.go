package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/google/wire"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/ports"
)

// ProviderSet provides *Server for google/wire. The injector supplies
// config.HTTP, the logger, the readiness probes, a Prometheus registry
// (bound to both prometheus.Registerer and prometheus.Gatherer), and the
// accounts and uploads use cases.
var ProviderSet = wire.NewSet(New)

// readHeaderTimeout bounds how long a client may take to send its headers
// (slowloris). Bodies are bounded per operation by huma's BodyReadTimeout.
const readHeaderTimeout = 10 * time.Second

// Server is gatehouse's HTTP API.
type Server struct {
	cfg          config.HTTP
	log          *slog.Logger
	probes       []ports.Probe
	probeTimeout time.Duration
	accounts     *app.Accounts
	uploads      *app.Uploads

	echo     *echo.Echo
	api      huma.API
	metrics  *httpMetrics
	gatherer prometheus.Gatherer

	// draining is set once shutdown begins; /readyz then answers 503.
	draining atomic.Bool
}

// New builds the server: the middleware chain, the error model and every
// route in routes.go. probes are what /readyz checks. HTTP metrics are
// registered with reg, and /metrics serves everything gatherer holds (pass
// the same *prometheus.Registry as both; use a dedicated one rather than the
// global default so that tests can build many servers). accounts serves the
// /v1/auth and /v1/me operations (and resolves every session), uploads the
// /v1/uploads operations.
//
// Later features add their app service as a further argument here, keep it
// in a field and register their operations from routes.go.
func New(cfg config.HTTP, log *slog.Logger, probes []ports.Probe, reg prometheus.Registerer, gatherer prometheus.Gatherer, accounts *app.Accounts, uploads *app.Uploads) (*Server, error) {
	if log == nil || reg == nil || gatherer == nil || accounts == nil || uploads == nil {
		return nil, errors.New("httpapi: New needs a logger, a prometheus.Registerer, a prometheus.Gatherer and the accounts and uploads use cases")
	}
	origins, err := normalizeOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	checkOrigin, err := crossOrigin(origins)
	if err != nil {
		return nil, err
	}
	metrics, err := newHTTPMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:          cfg,
		log:          log,
		probes:       probes,
		probeTimeout: maxProbeTimeout,
		accounts:     accounts,
		uploads:      uploads,
		metrics:      metrics,
		gatherer:     gatherer,
	}
	if half := cfg.RequestTimeout / 2; cfg.RequestTimeout > 0 && half < s.probeTimeout {
		s.probeTimeout = half
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// echo's own logger only ever reports "response already committed";
	// everything worth knowing is logged through slog by this package.
	e.Logger.SetOutput(io.Discard)
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.HTTPErrorHandler = s.handleError
	e.Use(
		begin,           // request id, client IP, security headers
		s.observe,       // access log + metrics; writes errors so it sees the final status
		s.recoverPanics, // panic -> 500 internal_error, logged with stack
		// Inside observe, so that preflights and refusals are logged and
		// carry the security headers; before everything that may refuse a
		// request, so that an allowed page can read every refusal.
		cors(origins), // strict allowlist from cfg.CORSOrigins
		checkOrigin,   // CSRF: cross-origin unsafe requests refused
		limitBody(cfg.MaxBodyBytes),
		timeout(cfg.RequestTimeout),
	)
	s.echo = e

	s.api = humaecho.New(e, apiConfig(cfg.DocsEnabled))
	addSecuritySchemes(s.api.OpenAPI())
	s.api.UseMiddleware(s.requireDeclaredBodyType, s.authenticate)

	s.routes()
	return s, nil
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo returns the underlying echo instance. It exists for composition (a
// root that mounts extra plain-echo routes) and for tests that need routes of
// their own; routes added through it get the whole middleware chain.
func (s *Server) Echo() *echo.Echo { return s.echo }

// API returns the huma API, for the same purposes as Echo: operations
// registered through it get the middleware chain, the error model and (if
// registered before the document is first served) a place in the OpenAPI
// document.
func (s *Server) API() huma.API { return s.api }

// Run serves HTTP on ln until ctx is done, then shuts down gracefully: it
// stops accepting connections, marks /readyz not ready and lets in-flight
// requests finish, for at most cfg.ShutdownTimeout (zero means no bound). It
// returns nil after a clean shutdown, or an error if serving failed or the
// in-flight requests did not finish in time (they are then cut off). Run
// takes ownership of ln and closes it.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.RequestTimeout > 0 {
		// A backstop for handlers that ignore their context: the
		// connection is cut a little after the request's deadline.
		srv.WriteTimeout = s.cfg.RequestTimeout + 10*time.Second
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.InfoContext(ctx, "http server listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("httpapi: serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.log.Info("http server shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	shutdownCtx := context.Background()
	if s.cfg.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		shutdownCtx, cancel = context.WithTimeout(shutdownCtx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		<-served
		return fmt.Errorf("httpapi: in-flight requests did not finish within %s: %w", s.cfg.ShutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpapi: serving on %s: %w", ln.Addr(), err)
	}
	s.log.Info("http server stopped")
	return nil
}
