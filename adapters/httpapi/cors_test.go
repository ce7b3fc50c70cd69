package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
)

// apiHost is the Host of the test requests: the API's own origin is
// https://api.example.com.
const apiHost = "api.example.com"

// browserServer is a test server whose CORS allowlist holds origins, as
// configured (not yet normalized).
func browserServer(t testing.TB, origins ...string) *testServer {
	t.Helper()
	cfg := baseConfig()
	cfg.CORSOrigins = origins
	s := newServer(t, cfg)
	addTestRoutes(t, s, nil)
	return s
}

// thingRequest is an unsafe request with a valid JSON body.
func thingRequest(origin, fetchSite string) *http.Request {
	r := jsonRequest(http.MethodPost, "/test/things", `{"name": "a"}`)
	r.Host = apiHost
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if fetchSite != "" {
		r.Header.Set("Sec-Fetch-Site", fetchSite)
	}
	return r
}

func TestCORS(t *testing.T) {
	t.Parallel()
	// Configured with a trailing slash, a default port and upper case: the
	// allowlist compares the origin as browsers send it.
	s := browserServer(t, "HTTPS://App.Example.com:443/", "http://localhost:5173")
	cases := []struct {
		name        string
		method      string
		origin      string
		wantAllowed bool
	}{
		{"preflight from the allowed origin", http.MethodOptions, "https://app.example.com", true},
		{"preflight from the second allowed origin", http.MethodOptions, "http://localhost:5173", true},
		{"preflight from a foreign origin", http.MethodOptions, "https://evil.example", false},
		{"preflight from a suffix of the allowed origin", http.MethodOptions, "https://app.example.com.evil.example", false},
		{"preflight from another scheme", http.MethodOptions, "http://app.example.com", false},
		{"preflight from another port", http.MethodOptions, "http://localhost:5174", false},
		{"preflight from null", http.MethodOptions, "null", false},
		{"preflight with a trailing slash", http.MethodOptions, "https://app.example.com/", false},
		{"request from the allowed origin", http.MethodGet, "https://app.example.com", true},
		{"request from a foreign origin", http.MethodGet, "https://evil.example", false},
		{"request without Origin", http.MethodGet, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, "/test/items/1", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			preflight := tc.method == http.MethodOptions
			if preflight {
				r.Header.Set("Access-Control-Request-Method", http.MethodGet)
				r.Header.Set("Access-Control-Request-Headers", "authorization")
			}
			res := s.do(r)
			h := res.Header()
			if got := h.Values("Vary"); !containsFold(got, "Origin") {
				t.Errorf("Vary: got %q, want it to list Origin", got)
			}
			checkSecurityHeaders(t, h, strictCSP)
			acao := h.Get("Access-Control-Allow-Origin")
			if !tc.wantAllowed {
				for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Expose-Headers"} {
					if v := h.Get(name); v != "" {
						t.Errorf("%s: got %q, want none for an origin off the allowlist", name, v)
					}
				}
				return
			}
			if acao != tc.origin {
				t.Errorf("Access-Control-Allow-Origin: got %q, want exactly %q", acao, tc.origin)
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("Access-Control-Allow-Credentials: got %q, want true", got)
			}
			if !preflight {
				if res.Code != http.StatusOK {
					t.Errorf("status: got %d, want 200", res.Code)
				}
				if got := h.Get("Access-Control-Expose-Headers"); got != "Retry-After, X-Request-ID" {
					t.Errorf("Access-Control-Expose-Headers: got %q, want Retry-After, X-Request-ID", got)
				}
				return
			}
			if res.Code != http.StatusNoContent {
				t.Errorf("preflight status: got %d, want 204", res.Code)
			}
			for name, want := range map[string]string{
				"Access-Control-Allow-Methods": "GET, POST, DELETE",
				"Access-Control-Allow-Headers": "Authorization, Content-Type",
				"Access-Control-Max-Age":       "600",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestCORSHeadersOnRefusals: the frontend can read every problem, whichever
// layer refused the request.
func TestCORSHeadersOnRefusals(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	s := browserServer(t, origin)
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"body over the server limit", func() *http.Request {
			return jsonRequest(http.MethodPost, "/test/things", `{"name": "`+strings.Repeat("a", 2000)+`"}`)
		}, http.StatusRequestEntityTooLarge},
		{"unknown route", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/nope", nil) }, http.StatusNotFound},
		{"panic", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/test/panic", nil) }, http.StatusInternalServerError},
		{"not JSON", func() *http.Request {
			r := jsonRequest(http.MethodPost, "/test/things", `{"name": "a"}`)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, http.StatusUnsupportedMediaType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.req()
			r.Header.Set("Origin", origin)
			res := s.do(r)
			if res.Code != tc.status {
				t.Fatalf("status: got %d, want %d", res.Code, tc.status)
			}
			if got := res.Header().Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, origin)
			}
			if got := res.Header().Get("Access-Control-Allow-Credentials"); got != "true" {
				t.Errorf("Access-Control-Allow-Credentials: got %q, want true", got)
			}
		})
	}
}

func containsFold(values []string, want string) bool {
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(item), want) {
				return true
			}
		}
	}
	return false
}

func TestNewRefusesOriginsThatAreNotOrigins(t *testing.T) {
	t.Parallel()
	for _, o := range []string{"*", "https://*.example.com", "https://app.example.com/app", "app.example.com", "ftp://app.example.com", "https://app.example.com?x=1"} {
		t.Run(o, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			cfg.CORSOrigins = []string{o}
			reg := prometheus.NewRegistry()
			log := slog.New(slog.DiscardHandler)
			if _, err := httpapi.New(cfg, log, nil, reg, reg, unusedAccounts(t, log), unusedUploads(t, log)); err == nil {
				t.Errorf("New with CORS origin %q: got nil error, want one", o)
			}
		})
	}
}

func TestCrossOriginProtection(t *testing.T) {
	t.Parallel()
	s := browserServer(t, "https://app.example.com")
	cases := []struct {
		name      string
		origin    string
		fetchSite string
		authz     string
		method    string
		wantOK    bool
	}{
		{name: "same-origin fetch", origin: "https://" + apiHost, fetchSite: "same-origin", wantOK: true},
		{name: "user-initiated navigation", fetchSite: "none", wantOK: true},
		{name: "the allowed frontend on a sibling origin", origin: "https://app.example.com", fetchSite: "same-site", wantOK: true},
		{name: "the allowed frontend on another site", origin: "https://app.example.com", fetchSite: "cross-site", wantOK: true},
		{name: "a sibling origin not allowed", origin: "https://blog.example.com", fetchSite: "same-site"},
		{name: "another site", origin: "https://evil.example", fetchSite: "cross-site"},
		{name: "another site without Origin", fetchSite: "cross-site"},
		{name: "an old browser on another site", origin: "https://evil.example"},
		{name: "an old browser on this origin", origin: "https://" + apiHost, wantOK: true},
		{name: "an old browser on the allowed origin", origin: "https://app.example.com", wantOK: true},
		{name: "an opaque origin", origin: "null"},
		{name: "a non-browser client", wantOK: true},
		{name: "a bearer request from another site", origin: "https://evil.example", fetchSite: "cross-site", authz: "Bearer x", wantOK: true},
		{name: "a safe method from another site", origin: "https://evil.example", fetchSite: "cross-site", method: http.MethodGet, wantOK: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := thingRequest(tc.origin, tc.fetchSite)
			if tc.method == http.MethodGet {
				r = httptest.NewRequest(http.MethodGet, "/test/items/1", nil)
				r.Host = apiHost
				r.Header.Set("Origin", tc.origin)
				r.Header.Set("Sec-Fetch-Site", tc.fetchSite)
			}
			if tc.authz != "" {
				r.Header.Set("Authorization", tc.authz)
			}
			res := s.do(r)
			if tc.wantOK {
				if res.Code != http.StatusOK {
					t.Errorf("status: got %d, want 200; body %s", res.Code, res.Body)
				}
				return
			}
			p := decodeProblem(t, res)
			if res.Code != http.StatusForbidden || p.Code != httpapi.CodeCSRFRejected {
				t.Errorf("got %d %q, want 403 %s", res.Code, p.Code, httpapi.CodeCSRFRejected)
			}
			checkSecurityHeaders(t, res.Header(), strictCSP)
		})
	}
}

// FuzzOriginCheck holds the CORS and CSRF decisions to a simple reference:
// CORS allows exactly the listed origin, and an unsafe browser request
// passes only from this origin or a listed one.
func FuzzOriginCheck(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://app.example.com", "cross-site"},
		{"https://app.example.com", ""},
		{"https://app.example.com/", "same-site"},
		{"https://APP.example.com", ""},
		{"https://app.example.com.evil.example", "same-site"},
		{"https://" + apiHost, ""},
		{"http://" + apiHost, "same-origin"},
		{"null", ""},
		{"", "none"},
		{"", ""},
		{"https://evil.example", "cross-site"},
		{"//" + apiHost, ""},
	} {
		f.Add(seed[0], seed[1])
	}
	const allowed = "https://app.example.com"
	s := browserServer(f, allowed)
	f.Fuzz(func(t *testing.T, origin, fetchSite string) {
		res := s.do(thingRequest(origin, fetchSite))
		acao := res.Header().Get("Access-Control-Allow-Origin")
		if wantCORS := origin == allowed; (acao != "") != wantCORS || (wantCORS && acao != origin) {
			t.Errorf("Origin %q: got Access-Control-Allow-Origin %q, want it only for exactly %q", origin, acao, allowed)
		}
		if res.Code != http.StatusOK && res.Code != http.StatusForbidden {
			t.Fatalf("Origin %q, Sec-Fetch-Site %q: got status %d, want 200 or 403", origin, fetchSite, res.Code)
		}
		if got, want := res.Code == http.StatusOK, referenceAllows(allowed, origin, fetchSite); got != want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: got allowed=%v, want %v", origin, fetchSite, got, want)
		}
	})
}

// referenceAllows is the CSRF rule for an unsafe request without an
// Authorization header to https://api.example.com.
func referenceAllows(allowed, origin, fetchSite string) bool {
	if origin != "" && origin == allowed {
		return true
	}
	switch fetchSite {
	case "same-origin", "none":
		return true
	case "":
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		return err == nil && u.Host == apiHost
	default:
		return false
	}
}

// decodeProblem decodes a problem body.
func decodeProblem(t *testing.T, res *httptest.ResponseRecorder) problemBody {
	t.Helper()
	var p problemBody
	dec := json.NewDecoder(res.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decoding the problem: %v", err)
	}
	return p
}
