// Package httpapi is gatehouse's HTTP adapter: an echo server with a huma API
// on top (OpenAPI 3.1), the middleware every request goes through, and the
// translation of errors from every layer into RFC 9457 problem details.
//
// The whole route table is in routes.go; each feature keeps its handlers in
// its own file (health.go, accounts.go, uploads.go) and adds its app service
// as an argument of New.
//
// Sessions (auth.go). Operations whose Security lists the session schemes
// get the signed-in app.Principal from PrincipalFrom; the middleware resolves
// it with one Accounts.Authenticate call. Browsers hold the session in the
// __Host-session cookie; other clients may use a bearer token instead.
//
// Browser safety (cors.go, csrf.go). CORS answers only the exact origins of
// CORS_ALLOWED_ORIGINS, with credentials. Unsafe requests without an
// Authorization header are refused (403 csrf_rejected) when a browser sent
// them from another origin, which is net/http's CrossOriginProtection with
// those origins trusted.
//
// Error model. Every non-2xx response, whatever produced it (echo's router,
// huma's validation, a middleware, a panic, a handler's domain error), is an
// application/problem+json Problem whose code is a stable snake_case machine
// code. Domain errors are mapped to HTTP in one table (kindTable in
// problem.go). Importing this package replaces huma.NewError and
// huma.NewErrorWithContext so that huma's own errors use the same shape;
// handlers should return domain errors rather than huma's ErrorXXX helpers.
//
// Client IP. The client IP used in logs and rate limits is the TCP
// peer unless that peer is one of the configured trusted proxies, in which
// case it is the nearest untrusted address in X-Forwarded-For. A client can
// never choose its own address by sending the header itself.
package httpapi
