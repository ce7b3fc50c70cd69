package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// CORS policy. The frontend is served from its own origin(s), listed in
// CORS_ALLOWED_ORIGINS; nothing else may read the API's answers from a
// browser.
const (
	// corsAllowMethods are the methods the API serves. A preflight for any
	// of them from an allowed origin succeeds.
	corsAllowMethods = "GET, POST, DELETE"
	// corsAllowHeaders are the request headers a page may send beyond the
	// CORS-safelisted ones.
	corsAllowHeaders = "Authorization, Content-Type"
	// corsExposeHeaders are the response headers a page may read beyond the
	// CORS-safelisted ones.
	corsExposeHeaders = "Retry-After, X-Request-ID"
	// corsMaxAge is how long (seconds) a browser may cache a preflight.
	corsMaxAge = "600"
)

// normalizeOrigin returns o in the form browsers send in the Origin header
// (lower-case scheme and host, no default port, no trailing slash), or an
// error when o is not an http(s) origin.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSpace(o), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("httpapi: %q is not an origin like https://app.example.com", o)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme + "://" + host, nil
}

// normalizeOrigins normalizes every configured origin.
func normalizeOrigins(origins []string) ([]string, error) {
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// originAllowed reports whether the Origin header value origin is exactly
// one of allowed (normalized). It is the only comparison the CORS policy
// makes: no wildcards, no suffix or prefix matching, and "null" never
// matches.
func originAllowed(allowed map[string]bool, origin string) bool {
	return origin != "" && allowed[origin]
}

// cors answers CORS for the allowed origins only. A request from an allowed
// origin gets Access-Control-Allow-Origin set to exactly that origin, with
// credentials allowed (the session cookie); a preflight from one is answered
// here with the methods and headers above. Requests from any other origin,
// preflights included, pass through without a single CORS header, so the
// browser withholds the answer. Every response varies by Origin, so shared
// caches never hand one origin's answer to another.
func cors(allowedOrigins []string) echo.MiddlewareFunc {
	allowed := make(map[string]bool, len(allowedOrigins))
	for _, o := range allowedOrigins {
		allowed[o] = true
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			h := c.Response().Header()
			h.Add("Vary", "Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			origin := r.Header.Get("Origin")
			if !originAllowed(allowed, origin) {
				return next(c)
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if !preflight {
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
				return next(c)
			}
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			return c.NoContent(http.StatusNoContent)
		}
	}
}
