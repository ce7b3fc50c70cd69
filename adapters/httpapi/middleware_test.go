package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/prometheus/client_golang/prometheus"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		path    string
		status  int
		wantCSP string // "" means: relaxed, not the strict API policy
	}{
		{"health", "/healthz", http.StatusOK, strictCSP},
		{"readiness", "/readyz", http.StatusOK, strictCSP},
		{"metrics", "/metrics", http.StatusOK, strictCSP},
		{"OpenAPI document", "/openapi.json", http.StatusOK, strictCSP},
		{"not found", "/nope", http.StatusNotFound, strictCSP},
		{"panic", "/test/panic", http.StatusInternalServerError, strictCSP},
		{"docs page", "/docs", http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, baseConfig())
			addTestRoutes(t, s, nil)
			res := s.do(httptest.NewRequest(http.MethodGet, tc.path, nil))
			if res.Code != tc.status {
				t.Fatalf("status: got %d, want %d", res.Code, tc.status)
			}
			if tc.wantCSP != "" {
				checkSecurityHeaders(t, res.Header(), tc.wantCSP)
				return
			}
			csp := res.Header().Get("Content-Security-Policy")
			checkSecurityHeaders(t, res.Header(), csp)
			// The docs page needs its renderer's script and styles, and
			// nothing more: still no framing, no plugins, no forms.
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'none'", "script-src https://unpkg.com/"} {
				if !strings.Contains(csp, want) {
					t.Errorf("docs CSP %q: want it to contain %q", csp, want)
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	addTestRoutes(t, s, nil)

	seen := map[string]bool{}
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/test/whoami", nil)
		req.Header.Set("X-Request-ID", "client-chosen") // never adopted
		res := s.do(req)
		id := res.Header().Get("X-Request-ID")
		if len(id) != 26 {
			t.Errorf("X-Request-ID: got %q, want a 26-character random id", id)
		}
		if seen[id] {
			t.Errorf("X-Request-ID %q was issued twice", id)
		}
		seen[id] = true
		var body map[string]string
		if err := json.Unmarshal(res.Body.Bytes(), &body); err != nil {
			t.Fatalf("decoding: %v", err)
		}
		if got := body["request_id"]; got != id {
			t.Errorf("RequestID(ctx): got %q, want %q", got, id)
		}
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	addTestRoutes(t, s, nil)

	req := httptest.NewRequest(http.MethodGet, "/test/items/42?token=querysecret", nil)
	req.RemoteAddr = "198.51.100.7:40000"
	req.Header.Set("Authorization", "Bearer headersecret")
	req.Header.Set("Cookie", "__Host-session=cookiesecret")
	res := s.do(req)
	if res.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200: %s", res.Code, res.Body)
	}

	line := s.logs.accessLine(t, res.Header().Get("X-Request-ID"))
	got := map[string]any{}
	for k, v := range line {
		switch k {
		case "time":
		case "duration_ms":
			if d, ok := v.(float64); !ok || d < 0 {
				t.Errorf("duration_ms: got %v, want a non-negative number", v)
			}
		default:
			got[k] = v
		}
	}
	want := map[string]any{
		"level":      "INFO",
		"msg":        "http request",
		"method":     "GET",
		"route":      "/test/items/{id}",
		"path":       "/test/items/42",
		"status":     float64(200),
		"bytes":      float64(res.Body.Len()),
		"request_id": res.Header().Get("X-Request-ID"),
		"client_ip":  "198.51.100.7",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log line (-want +got):\n%s", diff)
	}
	for _, secret := range []string{"querysecret", "headersecret", "cookiesecret"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, s.logs.String())
		}
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	cidr := func(s string) []*net.IPNet {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		return []*net.IPNet{n}
	}
	cases := []struct {
		name    string
		trusted []*net.IPNet
		peer    string
		xff     string
		realIP  string
		want    string
	}{
		{name: "direct peer without headers", peer: "192.0.2.10:1234", want: "192.0.2.10"},
		{name: "XFF from an untrusted peer is ignored (no proxies configured)", peer: "192.0.2.10:1234", xff: "203.0.113.9", want: "192.0.2.10"},
		{name: "X-Real-IP is never used", peer: "192.0.2.10:1234", realIP: "203.0.113.9", want: "192.0.2.10"},
		{name: "XFF from a peer outside the trusted ranges is ignored", trusted: cidr("10.0.0.0/8"), peer: "192.0.2.10:1234", xff: "203.0.113.9", want: "192.0.2.10"},
		{name: "private peers are not trusted unless configured", trusted: cidr("10.0.0.0/8"), peer: "172.16.0.5:1234", xff: "203.0.113.9", want: "172.16.0.5"},
		{name: "XFF from a trusted proxy is honoured", trusted: cidr("10.0.0.0/8"), peer: "10.0.0.5:1234", xff: "203.0.113.9", want: "203.0.113.9"},
		{name: "a client-forged hop before the proxy's is skipped", trusted: cidr("10.0.0.0/8"), peer: "10.0.0.5:1234", xff: "198.51.100.66, 203.0.113.9", want: "203.0.113.9"},
		{name: "trusted hops are walked from the right", trusted: cidr("10.0.0.0/8"), peer: "10.0.0.5:1234", xff: "198.51.100.66, 203.0.113.9, 10.0.0.7", want: "203.0.113.9"},
		{name: "garbage in XFF falls back to the peer", trusted: cidr("10.0.0.0/8"), peer: "10.0.0.5:1234", xff: "not-an-ip", want: "10.0.0.5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			cfg.TrustedProxies = tc.trusted
			s := newServer(t, cfg)
			addTestRoutes(t, s, nil)
			req := httptest.NewRequest(http.MethodGet, "/test/whoami", nil)
			req.RemoteAddr = tc.peer
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.realIP != "" {
				req.Header.Set("X-Real-IP", tc.realIP)
			}
			res := s.do(req)
			var body map[string]string
			if err := json.Unmarshal(res.Body.Bytes(), &body); err != nil {
				t.Fatalf("decoding %q: %v", res.Body, err)
			}
			if got := body["client_ip"]; got != tc.want {
				t.Errorf("ClientIP(ctx): got %q, want %q", got, tc.want)
			}
			if got := s.logs.accessLine(t, res.Header().Get("X-Request-ID"))["client_ip"]; got != tc.want {
				t.Errorf("access log client_ip: got %v, want %q", got, tc.want)
			}
		})
	}
}

// TestClientIPOverTheWire checks the loopback case over a real connection:
// echo trusts loopback peers by default, this server must not.
func TestClientIPOverTheWire(t *testing.T) {
	t.Parallel()
	_, other, _ := net.ParseCIDR("10.0.0.0/8")
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	cases := []struct {
		name    string
		trusted []*net.IPNet
		want    string
	}{
		{"no trusted proxies", nil, "127.0.0.1"},
		{"loopback not among the trusted proxies", []*net.IPNet{other}, "127.0.0.1"},
		{"loopback is a trusted proxy", []*net.IPNet{loopback}, "203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			cfg.TrustedProxies = tc.trusted
			s := newServer(t, cfg)
			addTestRoutes(t, s, nil)
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			req, err := http.NewRequest(http.MethodGet, ts.URL+"/test/whoami", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			res, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]string
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if got := body["client_ip"]; got != tc.want {
				t.Errorf("ClientIP(ctx): got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := newServer(t, baseConfig())
	addTestRoutes(t, s, nil)
	for _, path := range []string{"/test/items/123", "/test/items/456", "/nope/789"} {
		s.do(httptest.NewRequest(http.MethodGet, path, nil))
	}
	res := s.do(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if res.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", res.Code)
	}
	if ct := res.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type: got %q, want the Prometheus text format", ct)
	}
	body, _ := io.ReadAll(res.Body)
	text := string(body)
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="/test/items/{id}",status="200"} 2`,
		`gatehouse_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`gatehouse_http_request_duration_seconds_count{method="GET",route="/test/items/{id}",status="200"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics: want a line %s; got:\n%s", want, text)
		}
	}
	for _, raw := range []string{"/test/items/123", "/nope/789"} {
		if strings.Contains(text, raw) {
			t.Errorf("metrics contain the raw path %s", raw)
		}
	}
}

func TestMetricsRegistryIsNotShared(t *testing.T) {
	t.Parallel()
	// Two servers on their own registries coexist; a second server on the
	// same registry is refused rather than double-counting.
	a := newServer(t, baseConfig())
	newServer(t, baseConfig())
	if _, err := httpapi.New(baseConfig(), slog.New(slog.DiscardHandler), nil, a.reg, a.reg, unusedAccounts(t, slog.New(slog.DiscardHandler)), unusedUploads(t, slog.New(slog.DiscardHandler))); err == nil {
		t.Errorf("New on a registry that already holds the HTTP metrics: got nil error, want one")
	}
}

// At a log level above info, successful requests write no access line at all
// (not even one that is built and dropped), while a 5xx is still logged as
// an error with its request id.
func TestAccessLogFollowsTheLevel(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	s, err := httpapi.New(baseConfig(), log, nil, reg, reg, unusedAccounts(t, log), unusedUploads(t, log))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, logs: logs, reg: reg}
	addTestRoutes(t, ts, nil)

	ok := ts.do(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if ok.Code != http.StatusOK {
		t.Fatalf("GET /healthz: got %d, want 200", ok.Code)
	}
	if got := logs.String(); strings.Contains(got, "http request") {
		t.Fatalf("a 200 at level warn wrote an access line: %s", got)
	}
	failed := ts.do(httptest.NewRequest(http.MethodGet, "/test/panic", nil))
	if failed.Code != http.StatusInternalServerError {
		t.Fatalf("GET /test/panic: got %d, want 500", failed.Code)
	}
	line := logs.accessLine(t, failed.Header().Get("X-Request-ID"))
	if line["level"] != "ERROR" {
		t.Fatalf("got access line %v, want level ERROR", line)
	}
}
