package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// routes is the whole route table. Handlers live in one file per feature
// (health.go; accounts.go and uploads.go to come); this is the one place
// that says what the API serves. huma operations appear in the OpenAPI
// document (api/openapi.yaml), plain echo routes do not.
//
// huma also serves /openapi.json, /openapi.yaml and /docs when
// cfg.DocsEnabled (see apiConfig).
func (s *Server) routes() {
	// Operations: no authentication, no /v1 prefix.
	huma.Register(s.api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness",
		Description: "Answers 200 while the process serves HTTP. It checks no dependency.",
		Tags:        []string{"operations"},
	}, s.healthz)
	huma.Register(s.api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness",
		Description: "Runs every readiness check (database, schema, ...) with a short timeout. " +
			"Answers 200 when all pass, otherwise 503 with code `not_ready` and one entry in `errors` per failing check " +
			"(`location` is `checks.<name>`). Also 503 while the server shuts down.",
		Tags:   []string{"operations"},
		Errors: []int{http.StatusServiceUnavailable},
	}, s.readyz)
	s.echo.GET("/metrics", metricsHandler(s.gatherer, s.log)) // Prometheus text format

	s.accountRoutes()
	// v1: uploads (/v1/uploads...) register here, with their handlers in
	// uploads.go.
}

// accountBodyLimit bounds the bodies of the accounts operations: an address,
// a password or two and a token fit many times over.
const accountBodyLimit = 16 << 10

// accountRoutes registers the accounts operations (handlers in accounts.go).
// Those with Security need a session (auth.go); every unsafe one is also
// subject to the cross-origin check (csrf.go) unless it carries an
// Authorization header.
func (s *Server) accountRoutes() {
	tags := []string{"accounts"}
	const (
		limited    = " Rate limited per client IP (and per address where there is one): too many attempts answer 429 `rate_limited` with a Retry-After header."
		enumSafe   = " The answer is the same whether or not the address has an account."
		invalidTok = " A token that is malformed, unknown, used, expired or for another purpose is 422 `invalid_token`, whichever it is."
		passwords  = " Password rules (422): `password_too_short`, `password_too_long`, `password_is_email`, `invalid_password`."
	)
	huma.Register(s.api, huma.Operation{
		OperationID:   "signup",
		Method:        http.MethodPost,
		Path:          "/v1/auth/signup",
		Summary:       "Sign up",
		Description:   "Starts an account and emails a verification link. For an address that already has an account, its owner gets a notice instead." + enumSafe + " An invalid address is 422 `invalid_email`." + passwords + limited,
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  accountBodyLimit,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.signup)
	huma.Register(s.api, huma.Operation{
		OperationID:   "verify-email",
		Method:        http.MethodPost,
		Path:          "/v1/auth/verify-email",
		Summary:       "Confirm an email address",
		Description:   "Spends a verification token (valid 24 hours, once) and marks the address verified." + invalidTok + limited,
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		MaxBodyBytes:  accountBodyLimit,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.verifyEmail)
	huma.Register(s.api, huma.Operation{
		OperationID:   "resend-verification",
		Method:        http.MethodPost,
		Path:          "/v1/auth/verify-email/resend",
		Summary:       "Send a new verification email",
		Description:   "Emails a new verification link if the address has an unverified account; earlier links stop working." + enumSafe + limited,
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  accountBodyLimit,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.resendVerification)
	huma.Register(s.api, huma.Operation{
		OperationID: "login",
		Method:      http.MethodPost,
		Path:        "/v1/auth/login",
		Summary:     "Sign in",
		Description: "Checks the password and starts a new session. By default the session token is set as the `" + SessionCookieName +
			"` cookie (Secure, HttpOnly, SameSite=Lax) and is not in the body; with `\"token\": true` it is returned in the body as a bearer token and no cookie is set. " +
			"A wrong password and an unknown address are the same 401 `invalid_credentials`; a correct password for an address not yet confirmed is 403 `email_not_verified`." + limited,
		Tags:         tags,
		MaxBodyBytes: accountBodyLimit,
		Errors:       []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests},
	}, s.login)
	huma.Register(s.api, huma.Operation{
		OperationID:   "logout",
		Method:        http.MethodPost,
		Path:          "/v1/auth/logout",
		Summary:       "Sign out",
		Description:   "Ends this session on the server and clears the cookie.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Security:      sessionSecurity,
		Errors:        []int{http.StatusUnauthorized},
	}, s.logout)
	huma.Register(s.api, huma.Operation{
		OperationID:   "logout-all",
		Method:        http.MethodPost,
		Path:          "/v1/auth/logout-all",
		Summary:       "Sign out everywhere",
		Description:   "Ends every session of the user, this one included, and clears the cookie.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Security:      sessionSecurity,
		Errors:        []int{http.StatusUnauthorized},
	}, s.logoutAll)
	huma.Register(s.api, huma.Operation{
		OperationID: "me",
		Method:      http.MethodGet,
		Path:        "/v1/me",
		Summary:     "The signed-in user",
		Description: "Without a usable session: 401 `unauthenticated` (none presented), `invalid_session` (unknown, revoked or malformed) or `session_expired`.",
		Tags:        tags,
		Security:    sessionSecurity,
		Errors:      []int{http.StatusUnauthorized},
	}, s.me)
	huma.Register(s.api, huma.Operation{
		OperationID:   "change-password",
		Method:        http.MethodPost,
		Path:          "/v1/me/password",
		Summary:       "Change the password",
		Description:   "Replaces the password after checking the current one (422 `current_password_incorrect` otherwise), ends every other session of the user and emails a notice. This session stays signed in." + passwords + " Rate limited per user.",
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Security:      sessionSecurity,
		MaxBodyBytes:  accountBodyLimit,
		Errors:        []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.changePassword)
	huma.Register(s.api, huma.Operation{
		OperationID:   "request-password-reset",
		Method:        http.MethodPost,
		Path:          "/v1/auth/password-reset",
		Summary:       "Ask for a password reset email",
		Description:   "Emails a reset link (valid 30 minutes, once) if the address has an account; earlier links stop working. The current password keeps working until a link is used." + enumSafe + limited,
		Tags:          tags,
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  accountBodyLimit,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.requestPasswordReset)
	huma.Register(s.api, huma.Operation{
		OperationID:   "confirm-password-reset",
		Method:        http.MethodPost,
		Path:          "/v1/auth/password-reset/confirm",
		Summary:       "Set a new password with a reset token",
		Description:   "Spends a reset token and sets the new password. Every session of the user ends and no new one starts: sign in with the new password. The address counts as confirmed." + invalidTok + passwords + limited,
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		MaxBodyBytes:  accountBodyLimit,
		Errors:        []int{http.StatusUnprocessableEntity, http.StatusTooManyRequests},
	}, s.confirmPasswordReset)
}
