package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/config"
)

// chunked makes a request body of unknown length, as a chunked upload has.
type chunked struct{ io.Reader }

func TestErrorsAreProblems(t *testing.T) {
	t.Parallel()
	type fieldError struct{ Location, Message string }
	cases := []struct {
		name     string
		cfg      func(*config.HTTP)
		req      func() *http.Request
		status   int
		code     string
		detail   string       // checked when set
		errors   []fieldError // checked when set; Message "" means any message
		header   [2]string    // a response header to check, when set
		noLeak   []string     // must not appear in the body
		logWants string       // must appear in the access log line's error
	}{
		{
			name:   "unknown route",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/nope", nil) },
			status: http.StatusNotFound, code: "not_found",
		},
		{
			name:   "wrong method",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodDelete, "/healthz", nil) },
			status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			header: [2]string{"Allow", "OPTIONS, GET"},
		},
		{
			name:   "malformed JSON",
			req:    func() *http.Request { return jsonRequest(http.MethodPost, "/test/things", `{"name": `) },
			status: http.StatusBadRequest, code: "malformed_json",
			errors: []fieldError{{Location: "body"}},
		},
		{
			name:   "missing body",
			req:    func() *http.Request { return jsonRequest(http.MethodPost, "/test/things", ``) },
			status: http.StatusBadRequest, code: "malformed_json",
		},
		{
			name:   "body breaks the schema",
			req:    func() *http.Request { return jsonRequest(http.MethodPost, "/test/things", `{"name": "", "count": -1}`) },
			status: http.StatusUnprocessableEntity, code: "validation_failed",
			errors: []fieldError{{Location: "body.count"}, {Location: "body.name"}},
		},
		{
			name: "body values are not echoed back",
			req: func() *http.Request {
				return jsonRequest(http.MethodPost, "/test/things", `{"name": "", "secret": "hunter2"}`)
			},
			status: http.StatusUnprocessableEntity, code: "validation_failed",
			noLeak: []string{"hunter2"},
		},
		{
			name:   "path parameter of the wrong type",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/items/abc", nil) },
			status: http.StatusUnprocessableEntity, code: "validation_failed",
			errors: []fieldError{{Location: "path.id"}},
		},
		{
			name: "body over the server limit by Content-Length",
			req: func() *http.Request {
				return jsonRequest(http.MethodPost, "/test/things", `{"name": "`+strings.Repeat("a", 2000)+`"}`)
			},
			status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			detail: "The request body exceeds the limit of 1024 bytes.",
		},
		{
			name: "body over the server limit while streaming",
			req: func() *http.Request {
				r := jsonRequest(http.MethodPost, "/test/things", "")
				r.Body = io.NopCloser(chunked{strings.NewReader(`{"name": "` + strings.Repeat("a", 2000) + `"}`)})
				r.ContentLength = -1
				return r
			},
			status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			detail: "The request body exceeds the limit of 1024 bytes.",
		},
		{
			name: "body over an operation's own limit",
			req: func() *http.Request {
				return jsonRequest(http.MethodPost, "/test/small", `{"name": "abcdefghijklmnop"}`)
			},
			status: http.StatusRequestEntityTooLarge, code: "body_too_large",
		},
		{
			name: "text body on a JSON operation",
			req: func() *http.Request {
				r := jsonRequest(http.MethodPost, "/test/things", `{"name": "a"}`)
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			errors: []fieldError{{Location: "header.Content-Type", Message: "expected application/json"}},
		},
		{
			name: "form body on a JSON operation",
			req: func() *http.Request {
				r := jsonRequest(http.MethodPost, "/test/things", `name=a`)
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		},
		{
			name: "body without a Content-Type",
			req: func() *http.Request {
				r := jsonRequest(http.MethodPost, "/test/things", `{"name": "a"}`)
				r.Header.Del("Content-Type")
				return r
			},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		},
		{
			name:   "panic in a huma handler",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/panic", nil) },
			status: http.StatusInternalServerError, code: "internal_error",
			detail: "An unexpected error occurred.",
			noLeak: []string{"xyzzy", "exploded", "panic", ".go"}, logWants: "huma handler exploded",
		},
		{
			name:   "panic in an echo handler",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/echo-panic", nil) },
			status: http.StatusInternalServerError, code: "internal_error",
			noLeak: []string{"xyzzy", "exploded", "panic", ".go"}, logWants: "echo handler exploded",
		},
		{
			name:   "huma handler runs out of time",
			cfg:    func(c *config.HTTP) { c.RequestTimeout = 20 * time.Millisecond },
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/wait", nil) },
			status: http.StatusServiceUnavailable, code: "timeout",
			noLeak: []string{"waiting for the store", "deadline"}, logWants: "waiting for the store",
		},
		{
			name:   "echo handler runs out of time",
			cfg:    func(c *config.HTTP) { c.RequestTimeout = 20 * time.Millisecond },
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/echo-wait", nil) },
			status: http.StatusServiceUnavailable, code: "timeout",
		},
		{
			name:   "docs disabled: no OpenAPI document",
			cfg:    func(c *config.HTTP) { c.DocsEnabled = false },
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/openapi.json", nil) },
			status: http.StatusNotFound, code: "not_found",
		},
		{
			name:   "docs disabled: no YAML document",
			cfg:    func(c *config.HTTP) { c.DocsEnabled = false },
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil) },
			status: http.StatusNotFound, code: "not_found",
		},
		{
			name:   "docs disabled: no docs page",
			cfg:    func(c *config.HTTP) { c.DocsEnabled = false },
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/docs", nil) },
			status: http.StatusNotFound, code: "not_found",
		},
		{
			name:   "huma error model built by hand",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/huma-model", nil) },
			status: http.StatusGone, code: "gone",
			detail: "That link has expired.",
		},
		// Domain errors, through the one mapping table.
		{
			name:   "domain error from a plain echo handler",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/echo-errors/conflict", nil) },
			status: http.StatusConflict, code: "email_taken",
			detail: "That address is taken.",
		},
		{
			name:   "domain unavailable from a plain echo handler",
			req:    func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/echo-errors/unavailable", nil) },
			status: http.StatusServiceUnavailable, code: "unavailable",
			noLeak: []string{"SQLSTATE"}, logWants: "SQLSTATE 08006",
		},
		{
			name:   "domain invalid with fields",
			req:    errorCase("invalid"),
			status: http.StatusUnprocessableEntity, code: "password_too_short",
			detail: "The password is too short.",
			errors: []fieldError{{Location: "body.password", Message: "must be at least 15 characters"}},
		},
		{
			name:   "domain not found without code or message",
			req:    errorCase("not-found"),
			status: http.StatusNotFound, code: "not_found",
			detail: "The requested resource does not exist.",
		},
		{
			name:   "domain conflict, wrapped by the app",
			req:    errorCase("conflict"),
			status: http.StatusConflict, code: "email_taken",
			detail: "That address is taken.",
			noLeak: []string{"app.Signup"},
		},
		{
			name:   "domain unauthenticated",
			req:    errorCase("unauthenticated"),
			status: http.StatusUnauthorized, code: "invalid_credentials",
		},
		{
			name:   "domain forbidden",
			req:    errorCase("forbidden"),
			status: http.StatusForbidden, code: "email_not_verified",
		},
		{
			name:   "domain rate limited without a known reset says a minute",
			req:    errorCase("rate-limited"),
			status: http.StatusTooManyRequests, code: "rate_limited",
			header: [2]string{"Retry-After", "60"},
		},
		{
			name:   "domain rate limited sends Retry-After in whole seconds, rounded up",
			req:    errorCase("rate-limited-retry"),
			status: http.StatusTooManyRequests, code: "rate_limited",
			header: [2]string{"Retry-After", "91"},
		},
		{
			name: "domain rate limited from a plain echo handler sends Retry-After too",
			req: func() *http.Request {
				return httptest.NewRequest(http.MethodGet, "/test/echo-errors/rate-limited-retry", nil)
			},
			status: http.StatusTooManyRequests, code: "rate_limited",
			header: [2]string{"Retry-After", "91"},
		},
		{
			name:   "domain unavailable with a known retry time sends Retry-After",
			req:    errorCase("unavailable-retry"),
			status: http.StatusServiceUnavailable, code: "unavailable",
			header: [2]string{"Retry-After", "2"},
		},
		{
			name:   "domain unavailable without a retry time sends no Retry-After",
			req:    errorCase("unavailable"),
			status: http.StatusServiceUnavailable, code: "unavailable",
			header: [2]string{"Retry-After", ""},
		},
		{
			name:   "domain unavailable hides its cause and logs it",
			req:    errorCase("unavailable"),
			status: http.StatusServiceUnavailable, code: "unavailable",
			detail: "The service is temporarily unavailable; try again later.",
			noLeak: []string{"SQLSTATE", "10.1.2.3", "postgres"}, logWants: "postgres.GetUser: unavailable: SQLSTATE 08006",
		},
		{
			name:   "a dependency's own deadline is not the request's timeout",
			req:    errorCase("deadline-foreign"),
			status: http.StatusServiceUnavailable, code: "unavailable",
			logWants: "s3.Head: unavailable: context deadline exceeded",
		},
		{
			name:   "domain internal says nothing, not even its code or message",
			req:    errorCase("internal"),
			status: http.StatusInternalServerError, code: "internal_error",
			detail: "An unexpected error occurred.",
			noLeak: []string{"leaky", "pgx", "relation"}, logWants: "pgx: relation users does not exist",
		},
		{
			name:   "an error that is not a domain error is internal",
			req:    errorCase("plain"),
			status: http.StatusInternalServerError, code: "internal_error",
			noLeak: []string{"pq:", "internals"}, logWants: "pq: plain error with internals",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s := newServer(t, cfg)
			addTestRoutes(t, s, nil)

			res := s.do(tc.req())
			body := res.Body.String()

			if res.Code != tc.status {
				t.Fatalf("status: got %d, want %d; body %s", res.Code, tc.status, body)
			}
			if got := res.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type: got %q, want application/problem+json", got)
			}
			checkSecurityHeaders(t, res.Header(), strictCSP)
			if tc.header[0] != "" {
				if got := res.Header().Get(tc.header[0]); got != tc.header[1] {
					t.Errorf("header %s: got %q, want %q", tc.header[0], got, tc.header[1])
				}
			}

			var raw map[string]any
			if err := json.Unmarshal(res.Body.Bytes(), &raw); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			wantKeys := []string{"code", "detail", "request_id", "status", "title", "type"}
			if _, ok := raw["errors"]; ok {
				wantKeys = append(wantKeys, "errors")
				slices.Sort(wantKeys)
			}
			gotKeys := make([]string, 0, len(raw))
			for k := range raw {
				gotKeys = append(gotKeys, k)
			}
			slices.Sort(gotKeys)
			if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
				t.Errorf("problem members (-want +got):\n%s", diff)
			}

			var p problemBody
			dec := json.NewDecoder(strings.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("decoding the problem: %v: %s", err, body)
			}
			if p.Type != "about:blank" {
				t.Errorf("type: got %q, want about:blank", p.Type)
			}
			if p.Title != http.StatusText(tc.status) {
				t.Errorf("title: got %q, want %q", p.Title, http.StatusText(tc.status))
			}
			if p.Status != tc.status {
				t.Errorf("status member: got %d, want %d", p.Status, tc.status)
			}
			if p.Code != tc.code {
				t.Errorf("code: got %q, want %q", p.Code, tc.code)
			}
			if p.Detail == "" {
				t.Errorf("detail: got empty, want a message")
			}
			if tc.detail != "" && p.Detail != tc.detail {
				t.Errorf("detail: got %q, want %q", p.Detail, tc.detail)
			}
			if tc.errors != nil {
				got := make([]fieldError, len(p.Errors))
				for i, e := range p.Errors {
					got[i] = fieldError{Location: e.Location, Message: e.Message}
					if e.Message == "" {
						t.Errorf("errors[%d].message is empty", i)
					}
				}
				slices.SortFunc(got, func(a, b fieldError) int { return strings.Compare(a.Location, b.Location) })
				want := slices.Clone(tc.errors)
				for i := range want {
					if want[i].Message == "" && i < len(got) {
						want[i].Message = got[i].Message // any message will do
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("errors (-want +got):\n%s", diff)
				}
			}
			for _, s := range tc.noLeak {
				if strings.Contains(strings.ToLower(body), strings.ToLower(s)) {
					t.Errorf("body leaks %q: %s", s, body)
				}
			}

			id := res.Header().Get("X-Request-ID")
			if id == "" || p.RequestID != id {
				t.Errorf("request_id: got %q, want the X-Request-ID header %q (non-empty)", p.RequestID, id)
			}
			line := s.logs.accessLine(t, id)
			if got := line["status"]; got != float64(tc.status) {
				t.Errorf("access log status: got %v, want %d", got, tc.status)
			}
			if got := line["code"]; got != tc.code {
				t.Errorf("access log code: got %v, want %q", got, tc.code)
			}
			wantLevel := "INFO"
			if tc.status >= 500 {
				wantLevel = "ERROR"
			}
			if got := line["level"]; got != wantLevel {
				t.Errorf("access log level: got %v, want %s", got, wantLevel)
			}
			if tc.logWants != "" {
				if got, _ := line["error"].(string); !strings.Contains(got, tc.logWants) {
					t.Errorf("access log error: got %q, want it to contain %q", got, tc.logWants)
				}
			}
		})
	}
}

func jsonRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func errorCase(name string) func() *http.Request {
	return func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/errors/"+name, nil) }
}

func TestPanicIsLoggedWithStack(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, path, value string }{
		{"huma handler", "/test/panic", "huma handler exploded: secret=xyzzy"},
		{"echo handler", "/test/echo-panic", "echo handler exploded: secret=xyzzy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, baseConfig())
			addTestRoutes(t, s, nil)
			res := s.do(httptest.NewRequest(http.MethodGet, tc.path, nil))
			id := res.Header().Get("X-Request-ID")
			var found bool
			for _, rec := range s.logs.lines(t) {
				if rec["msg"] != "panic recovered" {
					continue
				}
				found = true
				if got := rec["request_id"]; got != id {
					t.Errorf("request_id: got %v, want %s", got, id)
				}
				if got := rec["panic"]; got != tc.value {
					t.Errorf("panic: got %v, want %q", got, tc.value)
				}
				if stack, _ := rec["stack"].(string); !strings.Contains(stack, "goroutine") || !strings.Contains(stack, ".go:") {
					t.Errorf("stack: got %q, want a goroutine stack trace", stack)
				}
			}
			if !found {
				t.Errorf("no panic log line; log:\n%s", s.logs.String())
			}
		})
	}
}

func TestHeadErrorHasNoBody(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	res := s.do(httptest.NewRequest(http.MethodHead, "/nope", nil))
	if res.Code != http.StatusNotFound {
		t.Errorf("status: got %d, want %d", res.Code, http.StatusNotFound)
	}
	if res.Body.Len() != 0 {
		t.Errorf("body: got %q, want none", res.Body.String())
	}
	if res.Header().Get("X-Request-ID") == "" {
		t.Errorf("X-Request-ID: got none, want one")
	}
}
