package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// logBuffer collects JSON log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns every log record, failing the test on a line that is not
// one JSON object.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %q", err, line)
		}
		out = append(out, rec)
	}
	return out
}

// accessLine returns the one access log record of the request with id.
func (l *logBuffer) accessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, rec := range l.lines(t) {
		if rec["msg"] == "http request" && rec["request_id"] == id {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d access log lines for request %s, want 1; log:\n%s", len(found), id, l.String())
	}
	return found[0]
}

// baseConfig is a configuration suitable for most tests.
func baseConfig() config.HTTP {
	return config.HTTP{
		Addr:            "127.0.0.1:0",
		RequestTimeout:  30 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		MaxBodyBytes:    1024,
		DocsEnabled:     true,
	}
}

type testServer struct {
	*httpapi.Server
	logs *logBuffer
	reg  *prometheus.Registry
}

func newServer(t testing.TB, cfg config.HTTP, probes ...ports.Probe) *testServer {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	s, err := httpapi.New(cfg, log, probes, reg, reg, unusedAccounts(t, log), unusedUploads(t, log))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testServer{Server: s, logs: logs, reg: reg}
}

// unusedAccounts returns accounts use cases without storage, for tests of
// the plumbing that never reach an accounts operation.
func unusedAccounts(t testing.TB, log *slog.Logger) *app.Accounts {
	t.Helper()
	accounts, err := app.NewAccounts(app.AccountStores{}, nil, nil, app.AccountsConfig{
		AppBaseURL: "https://app.example.com",
		Sessions:   domain.DefaultSessionPolicy(),
		Limits:     app.DefaultRateLimits(),
	}, log)
	if err != nil {
		t.Fatalf("NewAccounts: %v", err)
	}
	return accounts
}

// unusedUploads returns uploads use cases without storage or object store,
// for tests of the plumbing that never reach an uploads operation.
func unusedUploads(t testing.TB, log *slog.Logger) *app.Uploads {
	t.Helper()
	cfg := app.DefaultUploadsConfig()
	cfg.Bucket = "unused"
	uploads, err := app.NewUploads(app.UploadStores{}, nil, nil, cfg, log)
	if err != nil {
		t.Fatalf("NewUploads: %v", err)
	}
	return uploads
}

// do serves req and returns the recorded response.
func (s *testServer) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

// Test-only routes, registered through the accessors as later features and
// tests are meant to.

type thingInput struct {
	Body struct {
		Name  string `json:"name" minLength:"1"`
		Count int    `json:"count,omitempty" minimum:"0"`
	}
}

type thingOutput struct {
	Body struct {
		Name string `json:"name"`
	}
}

type itemInput struct {
	ID int `path:"id"`
}

type itemOutput struct {
	Body struct {
		ID int `json:"id"`
	}
}

type errorInput struct {
	Case string `path:"case"`
}

// domainErrors are what GET /test/errors/{case} returns.
var domainErrors = map[string]error{
	"invalid": &domain.Error{Kind: domain.KindInvalid, Code: "password_too_short", Msg: "The password is too short.",
		Fields: []domain.FieldError{{Location: "body.password", Message: "must be at least 15 characters"}}},
	"not-found":       domain.E(domain.KindNotFound, "", ""),
	"conflict":        fmt.Errorf("app.Signup: %w", domain.E(domain.KindConflict, "email_taken", "That address is taken.")),
	"unauthenticated": domain.E(domain.KindUnauthenticated, "invalid_credentials", "Wrong email or password."),
	"forbidden":       domain.E(domain.KindForbidden, "email_not_verified", "Verify your email address first."),
	"rate-limited":    domain.E(domain.KindRateLimited, "", ""),
	"rate-limited-retry": fmt.Errorf("app.Login: %w", &domain.Error{Kind: domain.KindRateLimited, Code: "rate_limited",
		Msg: "Too many attempts.", RetryAfter: 90*time.Second + 500*time.Millisecond}),
	"unavailable-retry": &domain.Error{Kind: domain.KindUnavailable, Op: "argon2id.Hash", RetryAfter: 2 * time.Second, Err: errors.New("busy")},
	"unavailable":       domain.Wrap(domain.KindUnavailable, "postgres.GetUser", errors.New("SQLSTATE 08006: connection to 10.1.2.3 failed")),
	"internal":          &domain.Error{Kind: domain.KindInternal, Code: "leaky_code", Msg: "leaky message", Err: errors.New("pgx: relation users does not exist")},
	"plain":             errors.New("pq: plain error with internals"),
	"deadline-foreign":  domain.Wrap(domain.KindUnavailable, "s3.Head", context.DeadlineExceeded),
}

// release unblocks handlers that wait for the test.
type gate struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{started: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// addTestRoutes registers the routes the tests exercise.
func addTestRoutes(t testing.TB, s *testServer, slow *gate) {
	t.Helper()
	api, e := s.API(), s.Echo()
	huma.Register(api, huma.Operation{OperationID: "test-thing", Method: http.MethodPost, Path: "/test/things"},
		func(_ context.Context, in *thingInput) (*thingOutput, error) {
			out := &thingOutput{}
			out.Body.Name = in.Body.Name
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "test-small", Method: http.MethodPost, Path: "/test/small", MaxBodyBytes: 16},
		func(_ context.Context, in *thingInput) (*thingOutput, error) { return &thingOutput{}, nil })
	huma.Register(api, huma.Operation{OperationID: "test-item", Method: http.MethodGet, Path: "/test/items/{id}"},
		func(_ context.Context, in *itemInput) (*itemOutput, error) {
			out := &itemOutput{}
			out.Body.ID = in.ID
			return out, nil
		})
	huma.Register(api, huma.Operation{OperationID: "test-error", Method: http.MethodGet, Path: "/test/errors/{case}"},
		func(_ context.Context, in *errorInput) (*struct{}, error) {
			err, ok := domainErrors[in.Case]
			if !ok {
				return nil, fmt.Errorf("unknown case %q", in.Case)
			}
			return nil, err
		})
	huma.Register(api, huma.Operation{OperationID: "test-panic", Method: http.MethodGet, Path: "/test/panic"},
		func(context.Context, *struct{}) (*struct{}, error) { panic("huma handler exploded: secret=xyzzy") })
	huma.Register(api, huma.Operation{OperationID: "test-wait", Method: http.MethodGet, Path: "/test/wait"},
		func(ctx context.Context, _ *struct{}) (*struct{}, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("waiting for the store: %w", ctx.Err())
		})
	e.GET("/test/echo-errors/:case", func(c echo.Context) error { return domainErrors[c.Param("case")] })
	e.GET("/test/huma-model", func(echo.Context) error {
		return &huma.ErrorModel{Status: http.StatusGone, Detail: "That link has expired."}
	})
	e.GET("/test/echo-panic", func(echo.Context) error { panic("echo handler exploded: secret=xyzzy") })
	e.GET("/test/echo-wait", func(c echo.Context) error {
		<-c.Request().Context().Done()
		return c.Request().Context().Err()
	})
	e.GET("/test/whoami", func(c echo.Context) error {
		ctx := c.Request().Context()
		return c.JSON(http.StatusOK, map[string]string{"client_ip": httpapi.ClientIP(ctx), "request_id": httpapi.RequestID(ctx)})
	})
	if slow != nil {
		e.GET("/test/slow", func(c echo.Context) error {
			close(slow.started)
			<-slow.release
			return c.JSON(http.StatusOK, map[string]string{"status": "done"})
		})
	}
}

// problemBody is the exact problem shape; decoding rejects unknown members.
type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// wantSecurityHeaders are on every response.
var wantSecurityHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "DENY",
	"Referrer-Policy":           "no-referrer",
	"Cache-Control":             "no-store",
}

const strictCSP = "default-src 'none'; frame-ancestors 'none'"

func checkSecurityHeaders(t *testing.T, h http.Header, wantCSP string) {
	t.Helper()
	for name, want := range wantSecurityHeaders {
		if got := h.Get(name); got != want {
			t.Errorf("header %s: got %q, want %q", name, got, want)
		}
	}
	if got := h.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("header Content-Security-Policy: got %q, want %q", got, wantCSP)
	}
}

// okProbe, failProbe, hangProbe and panicProbe are readiness fakes.
type okProbe string

func (p okProbe) Name() string                { return string(p) }
func (p okProbe) Check(context.Context) error { return nil }

type failProbe struct{ name, msg string }

func (p failProbe) Name() string                { return p.name }
func (p failProbe) Check(context.Context) error { return errors.New(p.msg) }

// hangProbe ignores its context and blocks until the test ends.
type hangProbe struct {
	name string
	done chan struct{}
}

func (p hangProbe) Name() string { return p.name }
func (p hangProbe) Check(context.Context) error {
	<-p.done
	return nil
}

type panicProbe string

func (p panicProbe) Name() string                { return string(p) }
func (p panicProbe) Check(context.Context) error { panic("probe bug") }
