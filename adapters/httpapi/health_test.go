package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/ports"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	// Liveness checks nothing: a failing dependency does not make it fail.
	s := newServer(t, baseConfig(), failProbe{"postgres", "connection refused"})
	res := s.do(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if res.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", res.Code)
	}
	if got, want := res.Header().Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	if got, want := strings.TrimSpace(res.Body.String()), `{"status":"ok"}`; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	type check struct{ Location, Message string }
	cases := []struct {
		name       string
		timeout    time.Duration // the request timeout, when not the default
		probes     []ports.Probe
		wantChecks map[string]string // for 200
		wantFailed []check           // for 503
		wantDetail string            // for 503
	}{
		{
			name:       "no probes",
			wantChecks: map[string]string{},
		},
		{
			name:       "every probe passes",
			probes:     []ports.Probe{okProbe("schema"), okProbe("postgres")},
			wantChecks: map[string]string{"postgres": "ok", "schema": "ok"},
		},
		{
			name:       "one probe fails",
			probes:     []ports.Probe{okProbe("postgres"), failProbe{"schema", "the database schema differs from schema/; run gatehouse migrate"}},
			wantFailed: []check{{"checks.schema", "the database schema differs from schema/; run gatehouse migrate"}},
			wantDetail: "Not ready: schema: the database schema differs from schema/; run gatehouse migrate.",
		},
		{
			name:       "every failing probe is named",
			probes:     []ports.Probe{failProbe{"schema", "schema differs"}, failProbe{"postgres", "connection refused"}},
			wantFailed: []check{{"checks.postgres", "connection refused"}, {"checks.schema", "schema differs"}},
			wantDetail: "Not ready: postgres: connection refused; schema: schema differs.",
		},
		{
			name:       "a probe that hangs times out",
			timeout:    100 * time.Millisecond, // probes get half of it
			probes:     []ports.Probe{okProbe("postgres"), hangProbe{"s3", hang}},
			wantFailed: []check{{"checks.s3", "no answer within 50ms"}},
		},
		{
			name:       "a probe that panics fails",
			probes:     []ports.Probe{panicProbe("mail")},
			wantFailed: []check{{"checks.mail", "check failed unexpectedly"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			if tc.timeout != 0 {
				cfg.RequestTimeout = tc.timeout
			}
			s := newServer(t, cfg, tc.probes...)
			res := s.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))

			if tc.wantFailed == nil {
				if res.Code != http.StatusOK {
					t.Fatalf("status: got %d, want 200: %s", res.Code, res.Body)
				}
				var body struct {
					Status string            `json:"status"`
					Checks map[string]string `json:"checks"`
				}
				if err := json.Unmarshal(res.Body.Bytes(), &body); err != nil {
					t.Fatalf("decoding: %v", err)
				}
				if body.Status != "ready" {
					t.Errorf("status: got %q, want ready", body.Status)
				}
				if diff := cmp.Diff(tc.wantChecks, body.Checks); diff != "" {
					t.Errorf("checks (-want +got):\n%s", diff)
				}
				return
			}

			if res.Code != http.StatusServiceUnavailable {
				t.Fatalf("status: got %d, want 503: %s", res.Code, res.Body)
			}
			if got := res.Header().Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("Content-Type: got %q, want application/problem+json", got)
			}
			var p problemBody
			if err := json.Unmarshal(res.Body.Bytes(), &p); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if p.Code != "not_ready" {
				t.Errorf("code: got %q, want not_ready", p.Code)
			}
			if p.RequestID != res.Header().Get("X-Request-ID") {
				t.Errorf("request_id: got %q, want %q", p.RequestID, res.Header().Get("X-Request-ID"))
			}
			got := make([]check, len(p.Errors))
			for i, e := range p.Errors {
				got[i] = check{e.Location, e.Message}
				if !strings.Contains(p.Detail, strings.TrimPrefix(e.Location, "checks.")+": "+e.Message) {
					t.Errorf("detail %q: want it to name %s and its message", p.Detail, e.Location)
				}
			}
			if diff := cmp.Diff(tc.wantFailed, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tc.wantDetail != "" && p.Detail != tc.wantDetail {
				t.Errorf("detail: got %q, want %q", p.Detail, tc.wantDetail)
			}
			line := s.logs.accessLine(t, p.RequestID)
			if got := line["code"]; got != "not_ready" {
				t.Errorf("access log code: got %v, want not_ready", got)
			}
		})
	}
}
