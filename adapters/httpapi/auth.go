package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humaecho"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
)

// SessionCookieName is the cookie that carries the session token in cookie
// mode. The __Host- prefix makes browsers accept it only when it is Secure,
// has Path=/ and no Domain, so neither a sibling subdomain nor a plain-HTTP
// page can set or overwrite it.
const SessionCookieName = "__Host-session"

// Security schemes, as named in the OpenAPI document. An operation that
// lists them needs a session: the cookie or the bearer token.
const (
	securityCookie = "sessionCookie"
	securityBearer = "bearerToken"
)

// sessionSecurity is the Security of every operation that needs a session.
var sessionSecurity = []map[string][]string{{securityCookie: {}}, {securityBearer: {}}}

// addSecuritySchemes declares the two ways to present a session token.
func addSecuritySchemes(oapi *huma.OpenAPI) {
	if oapi.Components.SecuritySchemes == nil {
		oapi.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	oapi.Components.SecuritySchemes[securityCookie] = &huma.SecurityScheme{
		Type: "apiKey",
		In:   "cookie",
		Name: SessionCookieName,
		Description: "The session cookie set by POST /v1/auth/login (Secure, HttpOnly, SameSite=Lax). " +
			"Unsafe requests authenticated by it must come from the API's own origin or an allowed one (see CSRF).",
	}
	oapi.Components.SecuritySchemes[securityBearer] = &huma.SecurityScheme{
		Type:   "http",
		Scheme: "bearer",
		Description: "The token returned by POST /v1/auth/login with \"token\": true, in the Authorization header " +
			"(never in a URL). A request with an Authorization header is authenticated by it alone.",
	}
}

// authMode says how a request presented its session token.
type authMode uint8

const (
	authCookie authMode = iota + 1
	authBearer
)

// authState is what the auth middleware learnt about a request.
type authState struct {
	principal app.Principal
	mode      authMode
	// prefetched says that the operation asked for an upload with
	// prefetchUpload, and upload is it (nil when the user has no such
	// upload).
	prefetched bool
	upload     *domain.Upload
}

// prefetchUpload is the Operation.Metadata key of an operation that reads
// the signed-in user's upload named by a path parameter (the key's value):
// the auth middleware reads it together with the session, in one store
// round trip (app.Uploads.GetForSession), and the handler takes it with
// prefetchedUpload. This is what keeps the hot read, GET
// /v1/uploads/{id}, at one database round trip.
const prefetchUpload = "gatehouse:prefetch-upload"

// prefetchedUpload returns the upload that the auth middleware read for an
// operation with prefetchUpload: the not-found error when the user has no
// such upload, and KindInternal when the operation asked for none.
func prefetchedUpload(ctx context.Context) (domain.Upload, error) {
	st := authFrom(ctx)
	switch {
	case st == nil || !st.prefetched:
		return domain.Upload{}, domain.Wrap(domain.KindInternal, "httpapi.prefetchedUpload", errNoPrefetch)
	case st.upload == nil:
		return domain.Upload{}, errUploadNotFound(nil)
	}
	return *st.upload, nil
}

var errNoPrefetch = errors.New("the operation has no " + prefetchUpload + " metadata")

type authKey struct{}

// PrincipalFrom returns the signed-in user and session of a request to an
// operation that needs a session. ok is false elsewhere.
func PrincipalFrom(ctx context.Context) (p app.Principal, ok bool) {
	st, ok := ctx.Value(authKey{}).(*authState)
	if !ok {
		return app.Principal{}, false
	}
	return st.principal, true
}

func authFrom(ctx context.Context) *authState {
	st, _ := ctx.Value(authKey{}).(*authState)
	return st
}

// errNoSession is the answer to a request that presents no session at all.
func errNoSession() error {
	return domain.E(domain.KindUnauthenticated, "unauthenticated", "Sign in to continue.")
}

// presentedToken returns the session token of r and how it came. An
// Authorization header wins over the cookie, and when it is there it is the
// only credential looked at (the CSRF rule relies on that): it must be
// "Bearer <token>". Tokens are never read from the URL.
func presentedToken(r *http.Request) (string, authMode, error) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, token, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return "", authBearer, domain.InvalidSessionError()
		}
		return strings.TrimSpace(token), authBearer, nil
	}
	c, err := r.Cookie(SessionCookieName)
	if err != nil || c.Value == "" {
		return "", 0, errNoSession()
	}
	return c.Value, authCookie, nil
}

// authenticate resolves the session of every operation whose Security lists
// the session schemes, and answers 401 when there is none. It makes exactly
// one call, Accounts.Authenticate, which reads the session and its user in
// one store round trip and writes only when the session's last use is
// stale; or, for an operation with prefetchUpload, Uploads.GetForSession,
// which reads the upload in that same round trip. Handlers find the result
// with PrincipalFrom (and prefetchedUpload).
func (s *Server) authenticate(hctx huma.Context, next func(huma.Context)) {
	op := hctx.Operation()
	if op == nil || len(op.Security) == 0 {
		next(hctx)
		return
	}
	r := humaecho.Unwrap(hctx).Request()
	token, mode, err := presentedToken(r)
	if err == nil {
		st := &authState{mode: mode}
		if param, ok := op.Metadata[prefetchUpload].(string); ok {
			st.prefetched = true
			st.principal, st.upload, err = s.uploads.GetForSession(hctx.Context(), s.accounts, token, hctx.Param(param))
		} else {
			st.principal, err = s.accounts.Authenticate(hctx.Context(), token)
		}
		if err == nil {
			next(huma.WithValue(hctx, authKey{}, st))
			return
		}
	}
	if mode == authCookie && domain.IsKind(err, domain.KindUnauthenticated) {
		// The browser holds a dead cookie: have it drop it.
		hctx.AppendHeader("Set-Cookie", clearSessionCookie())
	}
	s.writeErr(hctx, err)
}

// writeErr answers with the problem err maps to, exactly as if a handler had
// returned err: huma passes a handler's error to NewErrorWithContext as the
// single cause of a 500, which humaProblem then maps (problem.go).
func (s *Server) writeErr(hctx huma.Context, err error) {
	_ = huma.WriteErr(s.api, hctx, http.StatusInternalServerError, "unexpected error occurred", err)
}

// sessionCookie returns the Set-Cookie value that hands the browser a new
// session. It lives as long as the session's absolute lifetime; the idle
// timeout is enforced by the server, which answers session_expired (and
// clears the cookie) once it passes.
func sessionCookie(token string, sess domain.Session) string {
	maxAge := int(sess.ExpiresAt.Sub(sess.CreatedAt) / time.Second)
	c := &http.Cookie{
		Name:     SessionCookieName,
		Value:    token,
		Path:     "/",
		Expires:  sess.ExpiresAt.UTC(),
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	return c.String()
}

// clearSessionCookie returns the Set-Cookie value that makes the browser
// drop the session cookie (Max-Age=0), with the same attributes, which the
// __Host- prefix requires of any cookie of that name.
func clearSessionCookie() string {
	c := &http.Cookie{
		Name:     SessionCookieName,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(0, 0).UTC(),
		MaxAge:   -1,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	return c.String()
}
