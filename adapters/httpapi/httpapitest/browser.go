package httpapitest

import (
	"net/http"
	"strings"
	"testing"
)

// evilOrigin is a page of some other site.
const evilOrigin = "https://evil.example"

// browserCases cover what keeps other sites' pages from using a browser's
// session: CSRF refusal, the CORS allowlist and JSON-only bodies.
func browserCases() []accountCase {
	return []accountCase{
		{"cross-origin unsafe requests from browsers are refused with 403 csrf_rejected", crossOriginRefused},
		{"the allowed origin, the API's own origin, non-browser clients and bearer requests pass the CSRF check", crossOriginAllowed},
		{"CORS answers the allowed origin only, with credentials", corsAllowlist},
		{"request bodies must be JSON (415 otherwise)", jsonOnly},
	}
}

func crossOriginRefused(t *testing.T, h *harness) {
	const addr, pass = "mallory-target@example.com", "the target's long passphrase"
	h.newUser(addr, pass)
	s := h.startSession(addr, pass, false)
	refusals := []struct {
		name string
		opts []reqOption
	}{
		{"Sec-Fetch-Site: cross-site", []reqOption{withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", evilOrigin)}},
		{"Sec-Fetch-Site: same-site from an origin not allowed", []reqOption{withHeader("Sec-Fetch-Site", "same-site"), withHeader("Origin", evilOrigin)}},
		{"Sec-Fetch-Site: cross-site without Origin", []reqOption{withHeader("Sec-Fetch-Site", "cross-site")}},
		{"a foreign Origin without Sec-Fetch-Site", []reqOption{withHeader("Origin", evilOrigin)}},
		{"Origin: null", []reqOption{withHeader("Origin", "null")}},
	}
	for _, r := range refusals {
		res := h.post("/v1/auth/logout", nil, append(r.opts, s.auth())...)
		h.wantProblem("logout with "+r.name, res, http.StatusForbidden, "csrf_rejected")
		h.wantNoCookie("logout with "+r.name, res)
	}
	h.wantAlive("the session after refused cross-origin logouts", s)

	cross := []reqOption{withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", evilOrigin)}
	res := h.login(addr, pass, false, cross...)
	h.wantProblem("cross-site login (login CSRF)", res, http.StatusForbidden, "csrf_rejected")
	h.wantNoCookie("cross-site login", res)
	h.wantProblem("cross-site signup", h.signup("victim@example.com", "a planted passphrase", cross...), http.StatusForbidden, "csrf_rejected")
	h.wantProblem("cross-site password-reset", h.post("/v1/auth/password-reset", map[string]string{"email": addr}, cross...), http.StatusForbidden, "csrf_rejected")
	h.secrets.add("a planted new passphrase")
	h.wantProblem("cross-site password change", h.post("/v1/me/password", map[string]string{"current_password": pass, "password": "a planted new passphrase"}, append(cross, s.auth())...),
		http.StatusForbidden, "csrf_rejected")
	if got := h.mails("victim@example.com"); len(got) != 0 {
		t.Errorf("a refused cross-site signup mailed %d messages", len(got))
	}
	if got := h.topics(addr); len(got) != 1 {
		t.Errorf("mail to %s: got %v, want only the verification (refused requests mail nothing)", addr, got)
	}
	// Safe methods change nothing and are not refused (CORS keeps the
	// answer from a foreign page).
	h.wantStatus("a cross-site GET /v1/me", h.me(s, cross...), http.StatusOK)
	h.startSession(addr, pass, true)
}

func crossOriginAllowed(t *testing.T, h *harness) {
	const addr, pass = "frontend-user@example.com", "the frontend user's passphrase"
	h.newUser(addr, pass)

	fromFrontend := []reqOption{withHeader("Sec-Fetch-Site", "same-site"), withHeader("Origin", h.env.AllowedOrigin)}
	res := h.login(addr, pass, false, fromFrontend...)
	h.wantStatus("login from the allowed origin", res, http.StatusOK)
	s := h.startSession(addr, pass, false)
	res = h.post("/v1/auth/logout", nil, append([]reqOption{withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", h.env.AllowedOrigin)}, s.auth())...)
	h.wantStatus("logout from the allowed origin on another site", res, http.StatusNoContent)

	sameOrigin := []reqOption{withHeader("Sec-Fetch-Site", "same-origin"), withHeader("Origin", h.env.BaseURL)}
	h.wantStatus("login from the API's own origin", h.login(addr, pass, false, sameOrigin...), http.StatusOK)
	h.wantStatus("login with the API's own Origin and no Sec-Fetch-Site", h.login(addr, pass, false, withHeader("Origin", h.env.BaseURL)), http.StatusOK)
	h.wantStatus("login typed into the address bar (Sec-Fetch-Site: none)", h.login(addr, pass, false, withHeader("Sec-Fetch-Site", "none")), http.StatusOK)
	h.wantStatus("login from a non-browser client (neither header)", h.login(addr, pass, false), http.StatusOK)

	b := h.startSession(addr, pass, true)
	cross := []reqOption{withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", evilOrigin)}
	res = h.post("/v1/auth/logout", nil, append(cross, b.auth())...)
	h.wantStatus("a bearer logout with a foreign Origin", res, http.StatusNoContent)
	h.wantEnded("the bearer session after its logout", b)
}

func corsAllowlist(t *testing.T, h *harness) {
	allowed := h.env.AllowedOrigin
	preflight := func(origin string) response {
		return h.do(http.MethodOptions, "/v1/auth/login", nil,
			withHeader("Origin", origin),
			withHeader("Access-Control-Request-Method", http.MethodPost),
			withHeader("Access-Control-Request-Headers", "content-type"))
	}

	res := preflight(allowed)
	if res.status < 200 || res.status > 299 {
		t.Errorf("preflight from the allowed origin: got status %d, want 2xx", res.status)
	}
	wantHeader(t, "preflight from the allowed origin", res.header, "Access-Control-Allow-Origin", allowed)
	wantHeader(t, "preflight from the allowed origin", res.header, "Access-Control-Allow-Credentials", "true")
	wantListed(t, "preflight from the allowed origin", res.header, "Access-Control-Allow-Methods", "POST")
	wantListed(t, "preflight from the allowed origin", res.header, "Access-Control-Allow-Headers", "content-type")
	wantListed(t, "preflight from the allowed origin", res.header, "Vary", "Origin")

	others := []string{evilOrigin, "null", allowed + ".evil.example", strings.Replace(allowed, "https://", "http://", 1), strings.ToUpper(allowed) + "x"}
	for _, origin := range others {
		res := preflight(origin)
		for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
			if v := res.header.Get(name); v != "" {
				t.Errorf("preflight from %s: got %s %q, want none", origin, name, v)
			}
		}
		wantListed(t, "preflight from "+origin, res.header, "Vary", "Origin")
	}

	res = h.get("/v1/me", withHeader("Origin", allowed))
	h.wantProblem("GET /v1/me from the allowed origin", res, http.StatusUnauthorized, "unauthenticated")
	wantHeader(t, "a problem for the allowed origin", res.header, "Access-Control-Allow-Origin", allowed)
	wantHeader(t, "a problem for the allowed origin", res.header, "Access-Control-Allow-Credentials", "true")
	wantListed(t, "a problem for the allowed origin", res.header, "Access-Control-Expose-Headers", "X-Request-ID")
	wantListed(t, "a problem for the allowed origin", res.header, "Access-Control-Expose-Headers", "Retry-After")

	res = h.get("/v1/me", withHeader("Origin", evilOrigin))
	if v := res.header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("GET /v1/me from %s: got Access-Control-Allow-Origin %q, want none", evilOrigin, v)
	}
	wantListed(t, "GET /v1/me from a foreign origin", res.header, "Vary", "Origin")
}

func jsonOnly(t *testing.T, h *harness) {
	body := []byte(`{"email":"someone@example.com","password":"someone's long passphrase"}`)
	h.secrets.add("someone's long passphrase")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", ""} {
		var opts []reqOption
		if ct != "" {
			opts = append(opts, withHeader("Content-Type", ct))
		}
		h.wantProblem("login with Content-Type "+ct, h.do(http.MethodPost, "/v1/auth/login", body, opts...), http.StatusUnsupportedMediaType, "unsupported_media_type")
		h.wantProblem("signup with Content-Type "+ct, h.do(http.MethodPost, "/v1/auth/signup", body, opts...), http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	if got := h.mails("someone@example.com"); len(got) != 0 {
		t.Errorf("refused signups mailed %d messages", len(got))
	}
	res := h.do(http.MethodPost, "/v1/auth/login", body, withHeader("Content-Type", "application/json; charset=utf-8"))
	h.wantProblem("login with JSON and a charset", res, http.StatusUnauthorized, "invalid_credentials")
	res = h.do(http.MethodPost, "/v1/auth/login", []byte(`{"email":`), withHeader("Content-Type", "application/json"))
	h.wantProblem("login with broken JSON", res, http.StatusBadRequest, "malformed_json")
}

// wantHeader fails the test unless the header has exactly the value.
func wantHeader(t *testing.T, what string, hd http.Header, name, want string) {
	t.Helper()
	if got := hd.Get(name); got != want {
		t.Errorf("%s: got %s %q, want %q", what, name, got, want)
	}
}

// wantListed fails the test unless one of the header's comma-separated
// values is want, compared case-insensitively.
func wantListed(t *testing.T, what string, hd http.Header, name, want string) {
	t.Helper()
	for _, v := range hd.Values(name) {
		for _, item := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(item), want) {
				return
			}
		}
	}
	t.Errorf("%s: got %s %q, want it to list %s", what, name, hd.Values(name), want)
}
