package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"
	"github.com/labstack/echo/v4"
)

// HeaderRequestID is the response header that carries the request's id.
const HeaderRequestID = "X-Request-ID"

// strictCSP is the Content-Security-Policy of every response except the
// docs page: API responses are data, never documents to render.
const strictCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders are set on every response, errors included, before the
// handler runs. The docs handler replaces the Content-Security-Policy with
// the (pinned, SRI-checked) policy its page needs; nothing else relaxes it.
var securityHeaders = [][2]string{
	{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
	{"Content-Security-Policy", strictCSP},
	{"Cache-Control", "no-store"},
}

// requestIDKey is HeaderRequestID in canonical form.
var requestIDKey = http.CanonicalHeaderKey(HeaderRequestID)

// securityHeaderKeys are securityHeaders' names in canonical form.
var securityHeaderKeys = func() []string {
	keys := make([]string, len(securityHeaders))
	for i, kv := range securityHeaders {
		keys[i] = http.CanonicalHeaderKey(kv[0])
	}
	return keys
}()

// ipExtractor decides which address is the client's. With no trusted
// proxies it is the TCP peer, whatever headers say. With trusted proxies it
// walks X-Forwarded-For from the right and stops at the first address that
// is not one of them; echo's default trust of loopback, link-local and
// private ranges is switched off so that only the configured ranges count.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{
		echo.TrustLoopback(false),
		echo.TrustLinkLocal(false),
		echo.TrustPrivateNet(false),
	}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// begin gives the request its id and client IP and sets the headers every
// response carries. It runs first, so even the errors of later middleware
// have them.
func begin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		info := &requestInfo{id: newRequestID(), clientIP: c.RealIP()}
		r := c.Request()
		c.SetRequest(r.WithContext(withInfo(r.Context(), info)))
		h := c.Response().Header()
		// One backing array for all the values rather than one
		// allocation per header (this runs on every request); each entry
		// has capacity 1, so an Add reallocates rather than spill into its
		// neighbour.
		n := len(securityHeaders)
		vals := make([]string, n+1)
		for i, kv := range securityHeaders {
			vals[i] = kv[1]
			h[securityHeaderKeys[i]] = vals[i : i+1 : i+1]
		}
		vals[n] = info.id
		h[requestIDKey] = vals[n : n+1 : n+1]
		return next(c)
	}
}

// observe writes the access log line and the HTTP metrics. It handles the
// error of the inner chain itself (as echo's logger does), so that the status
// it records is the one the client got.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)

		r, res := c.Request(), c.Response()
		status := res.Status
		route := routeLabel(c.Path())
		method := methodLabel(r.Method)
		s.metrics.observe(method, route, status, elapsed)

		ctx := r.Context()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		if !s.log.Enabled(ctx, level) {
			return nil // don't build a line nobody will read (this runs on every request)
		}
		info := infoFrom(ctx)
		code, cause := info.outcome()
		attrs := []slog.Attr{
			slog.String("method", method),
			slog.String("route", route),
			slog.String("path", r.URL.Path), // never the query string: it may hold tokens
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int64("bytes", res.Size),
			slog.String("request_id", info.id),
			slog.String("client_ip", info.clientIP),
		}
		if code != "" {
			attrs = append(attrs, slog.String("code", code))
		}
		if status >= 500 && cause != nil {
			attrs = append(attrs, slog.String("error", cause.Error()))
		}
		s.log.LogAttrs(ctx, level, "http request", attrs...)
		return nil
	}
}

// routeLabel turns echo's route path into the OpenAPI-style template used in
// logs and metrics ("/v1/uploads/:id" becomes "/v1/uploads/{id}"). Requests
// that matched no route share one label, so raw paths never become labels.
// Labels are remembered per route, so that a request costs one map read:
// echo's route paths are the registered ones, a fixed set.
func routeLabel(path string) string {
	if path == "" {
		return "unmatched"
	}
	if !strings.Contains(path, ":") {
		return path
	}
	if l, ok := routeLabels.Load(path); ok {
		return l.(string)
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, ":") {
			segs[i] = "{" + seg[1:] + "}"
		}
	}
	l := strings.Join(segs, "/")
	routeLabels.Store(path, l)
	return l
}

// routeLabels maps echo route paths with parameters to their labels.
var routeLabels sync.Map

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	default:
		return "OTHER"
	}
}

// recoverPanics turns a panic into a 500 internal_error, logging the value
// and the stack. http.ErrAbortHandler is re-raised: it is net/http's way to
// abort a response on purpose.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			ctx := c.Request().Context()
			s.log.LogAttrs(ctx, slog.LevelError, "panic recovered",
				slog.String("request_id", RequestID(ctx)),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())),
			)
			err = fmt.Errorf("%w: %v", errPanic, v)
		}()
		return next(c)
	}
}

// limitBody refuses bodies larger than limit: at once when Content-Length
// says so, otherwise when reading passes the limit (the reader then fails
// with *http.MaxBytesError, which maps to 413 wherever it surfaces).
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if limit <= 0 {
			return next
		}
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return bodyTooLargeProblem(limit, nil)
			}
			if r.Body != nil && r.Body != http.NoBody {
				// The underlying writer lets net/http close the connection
				// after a body that was cut off.
				r.Body = http.MaxBytesReader(c.Response().Writer, r.Body, limit)
			}
			return next(c)
		}
	}
}

// timeout gives the request a deadline. Cancellation is cooperative, as
// everywhere in Go: handlers and the adapters they call must honour ctx, and
// a request that runs out of time answers 503 timeout. (A handler that
// ignores ctx is not interrupted; the server's write timeout is the last
// resort.)
func timeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if d <= 0 {
			return next
		}
		return func(c echo.Context) error {
			orig := c.Request()
			ctx, cancel := context.WithTimeout(orig.Context(), d)
			defer cancel()
			c.SetRequest(orig.WithContext(ctx))
			defer c.SetRequest(orig)
			err := next(c)
			if err != nil && errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return timeoutProblem(err)
			}
			return err
		}
	}
}

// requireDeclaredBodyType answers 415 when a request to an operation that
// takes a body sends one in a media type the operation does not declare.
// A missing Content-Type counts as wrong: huma would otherwise assume JSON,
// and a browser can send a body without one cross-site.
func (s *Server) requireDeclaredBodyType(hctx huma.Context, next func(huma.Context)) {
	op := hctx.Operation()
	if op == nil || op.RequestBody == nil || len(op.RequestBody.Content) == 0 {
		next(hctx)
		return
	}
	if humaecho.Unwrap(hctx).Request().ContentLength == 0 {
		next(hctx) // no body: huma reports a required one as missing
		return
	}
	mt, _, err := mime.ParseMediaType(hctx.Header("Content-Type"))
	if err == nil && accepts(op.RequestBody.Content, mt) {
		next(hctx)
		return
	}
	want := make([]string, 0, len(op.RequestBody.Content))
	for ct := range op.RequestBody.Content {
		want = append(want, ct)
	}
	sort.Strings(want)
	_ = huma.WriteErr(s.api, hctx, http.StatusUnsupportedMediaType,
		"The request body must be sent as "+strings.Join(want, " or ")+".",
		&huma.ErrorDetail{Location: "header.Content-Type", Message: "expected " + strings.Join(want, " or ")},
	)
}

func accepts(content map[string]*huma.MediaType, mt string) bool {
	if _, ok := content[mt]; ok {
		return true
	}
	_, json := content["application/json"]
	return json && strings.HasSuffix(mt, "+json")
}
