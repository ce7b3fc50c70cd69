package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// routes is the whole route table. Handlers live in one file per feature
// (health.go, accounts.go, uploads.go); this is the one place
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
	s.uploadRoutes()
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

// uploadBodyLimit bounds the body of POST /v1/uploads: a declaration, never
// the file (whose bytes go straight to the object store).
const uploadBodyLimit = 16 << 10

// uploadRoutes registers the uploads operations (handlers in uploads.go).
// Every one needs a session and sees only the signed-in user's uploads; the
// unsafe ones are subject to the cross-origin check (csrf.go) unless they
// carry an Authorization header.
func (s *Server) uploadRoutes() {
	tags := []string{"uploads"}
	const notFound = " An id that is malformed, unknown, deleted or another user's is 404 `not_found`, whichever it is."
	huma.Register(s.api, huma.Operation{
		OperationID: "create-upload",
		Method:      http.MethodPost,
		Path:        "/v1/uploads",
		Summary:     "Declare an upload",
		Description: "Declares a file and returns the upload (status `pending`) with a presigned PUT that sends its bytes straight to storage, " +
			"bound to the declared content type, exact size (and SHA-256, when given) and valid for minutes. " +
			"Send the PUT with exactly the listed headers, then call complete. " +
			"A declaration the service refuses is 422 with the first rule broken as code and every bad field in `errors`: " +
			"`content_type_not_allowed` (not a media type, or not one the service accepts), `file_too_large` (above the size limit), " +
			"`invalid_upload` (a size below 1 byte, or a sha256 that is not 64 hex digits), " +
			"`filename_type_mismatch` (the file name's extension contradicts the content type); a missing or mistyped member is `validation_failed`.",
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		Security:      sessionSecurity,
		MaxBodyBytes:  uploadBodyLimit,
		Errors:        []int{http.StatusUnauthorized, http.StatusUnprocessableEntity},
	}, s.createUpload)
	huma.Register(s.api, huma.Operation{
		OperationID: "complete-upload",
		Method:      http.MethodPost,
		Path:        "/v1/uploads/{id}/complete",
		Summary:     "Say the file has been sent",
		Description: "Checks the stored file against the declaration (size and content type) and starts the malware scan: the upload answers with status `scanning`. " +
			"If nothing was stored yet, or something of another size or type, it is 422 `upload_mismatch` and the upload stays `pending` (PUT again while the URL is valid). " +
			"Completing an upload that is already past `pending` (a retry, or a scan that finished first) answers 200 with the upload as it is. " +
			"Poll GET /v1/uploads/{id} until the status is `accepted`, `rejected` or `failed`." + notFound,
		Tags:     tags,
		Security: sessionSecurity,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, s.completeUpload)
	huma.Register(s.api, huma.Operation{
		OperationID: "list-uploads",
		Method:      http.MethodGet,
		Path:        "/v1/uploads",
		Summary:     "List uploads",
		Description: "The signed-in user's uploads, newest first, a page at a time. Follow next_cursor until it is null; " +
			"uploads declared meanwhile appear on the first page only, and none is listed twice. " +
			"A cursor this service did not return is 422 `invalid_cursor`.",
		Tags:     tags,
		Security: sessionSecurity,
		Errors:   []int{http.StatusUnauthorized, http.StatusUnprocessableEntity},
	}, s.listUploads)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-upload",
		Method:      http.MethodGet,
		Path:        "/v1/uploads/{id}",
		Summary:     "Get an upload",
		Description: "The upload's status and, once settled, the scan result." + notFound,
		Tags:        tags,
		Security:    sessionSecurity,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound},
		Metadata:    map[string]any{prefetchUpload: "id"},
	}, s.getUpload)
	huma.Register(s.api, huma.Operation{
		OperationID: "download-upload",
		Method:      http.MethodGet,
		Path:        "/v1/uploads/{id}/download",
		Summary:     "Get a download link",
		Description: "A short-lived link to the accepted file, offered as an attachment under its file name. " +
			"Only accepted uploads have one: any other status is 409 `upload_not_accepted`." + notFound,
		Tags:     tags,
		Security: sessionSecurity,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict},
	}, s.downloadUpload)
	huma.Register(s.api, huma.Operation{
		OperationID:   "delete-upload",
		Method:        http.MethodDelete,
		Path:          "/v1/uploads/{id}",
		Summary:       "Delete an upload",
		Description:   "Removes the upload and its stored file, whatever its status. It is 404 from then on." + notFound,
		Tags:          tags,
		DefaultStatus: http.StatusNoContent,
		Security:      sessionSecurity,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound},
	}, s.deleteUpload)
}
