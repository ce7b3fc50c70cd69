package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// CodeCSRFRejected is the problem code of an unsafe request that a browser
// sent from a page of another origin.
const CodeCSRFRejected = "csrf_rejected"

// crossOrigin refuses cross-origin unsafe requests from browsers, which is
// what a cross-site request forgery is. It guards every POST, PUT, PATCH and
// DELETE that does not carry an Authorization header: requests that the
// session cookie authenticates, and the sign-in, sign-up and token
// endpoints, whose forgery would plant or use a session (login CSRF).
//
// The rule is net/http's CrossOriginProtection, with the CORS allowlist as
// its trusted origins:
//   - Sec-Fetch-Site (sent by every current browser) must be same-origin or
//     none, unless Origin is an allowed origin (the frontend on its own
//     origin is same-site or cross-site to the API);
//   - without Sec-Fetch-Site, an Origin header must name this host or an
//     allowed origin; "null" (sandboxed frames, some redirects) never does;
//   - a request with neither header is allowed. Browsers attach at least one
//     to every unsafe cross-origin request, so such a request comes from a
//     non-browser client (curl, a mobile app, a server), which no other
//     site can make act on a user's behalf.
//
// Requests with an Authorization header are exempt. Browsers never attach
// one on their own, and a page of another origin can only add it after a
// CORS preflight, which only allowlisted origins pass; such requests are
// authenticated by that header alone, never by the cookie (see auth.go).
// Unsafe requests also need a JSON body (415 otherwise, see
// requireDeclaredBodyType), which an HTML form cannot send.
func crossOrigin(trustedOrigins []string) (echo.MiddlewareFunc, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range trustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.Header.Get("Authorization") != "" {
				return next(c)
			}
			if err := cop.Check(r); err != nil {
				p := newProblem(http.StatusForbidden, CodeCSRFRejected,
					"Cross-origin requests are not allowed. Use the API from an allowed origin, or authenticate with a bearer token.")
				p.cause = err
				return p
			}
			return next(c)
		}
	}, nil
}
