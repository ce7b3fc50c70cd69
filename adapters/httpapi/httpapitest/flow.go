package httpapitest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// flowCases walk the whole story the frontend tells.
func flowCases() []accountCase {
	return []accountCase{
		{"signup, verify, login, me, change password, logout, reset and login with the new password", walkThrough},
		{"the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, without Domain, and lasts as long as the session", cookieFlags},
		{"bearer mode returns the token in the body, sets no cookie and is revoked by logout", bearerMode},
		{"a new session token is issued at every login and a planted cookie is never adopted", sessionRotation},
	}
}

func walkThrough(t *testing.T, h *harness) {
	const (
		addr  = "ada@example.com"
		pass1 = "first passphrase of ada"
		pass2 = "second passphrase of ada"
		pass3 = "third passphrase of ada"
	)
	start := h.env.Clock.Now()

	h.wantAccepted("signup", h.signup("  Ada@Example.com ", pass1))
	h.wantProblem("login before verifying", h.login(addr, pass1, false), http.StatusForbidden, "email_not_verified")
	token := h.mailToken(addr, topicVerifyEmail)
	res := h.verify(token)
	h.wantStatus("verify-email", res, http.StatusNoContent)
	if len(res.body) != 0 {
		h.t.Errorf("verify-email: got body %q, want none", res.body)
	}

	res = h.login(addr, pass1, false)
	h.wantStatus("login", res, http.StatusOK)
	var lb loginBody
	h.decode("login", res, &lb)
	if lb.User.ID == "" || lb.User.Email != addr || !lb.User.EmailVerified {
		t.Errorf("login: got user %+v, want a verified user with id and email %s", lb.User, addr)
	}
	if lb.User.CreatedAt.Location() != time.UTC || lb.User.CreatedAt.Before(start.Add(-time.Second)) {
		t.Errorf("login: got created_at %v, want a UTC time at sign-up (%v)", lb.User.CreatedAt, start)
	}
	if !lb.Session.ExpiresAt.After(h.env.Clock.Now()) {
		t.Errorf("login: got session.expires_at %v, want a time after now (%v)", lb.Session.ExpiresAt, h.env.Clock.Now())
	}
	cs := h.setCookies(res)
	if len(cs) != 1 {
		t.Fatalf("login: got %d session cookies, want 1", len(cs))
	}
	first := session{cookie: cs[0].Value}

	res = h.me(first)
	h.wantStatus("me", res, http.StatusOK)
	var me map[string]any
	h.decode("me", res, &me)
	wantMe := map[string]any{
		"id": lb.User.ID, "email": addr, "email_verified": true,
		"created_at": lb.User.CreatedAt.Format(time.RFC3339Nano),
	}
	if diff := cmp.Diff(wantMe, me); diff != "" {
		t.Errorf("me: body (-want +got):\n%s", diff)
	}

	res = h.post("/v1/me/password", map[string]string{"current_password": pass1, "password": pass2}, first.auth())
	h.secrets.add(pass2)
	h.wantStatus("change password", res, http.StatusNoContent)
	h.wantAlive("me after changing the password", first)
	h.lastMail(addr, topicPasswordChanged)
	h.wantProblem("login with the old password", h.login(addr, pass1, false), http.StatusUnauthorized, "invalid_credentials")
	second := h.startSession(addr, pass2, false)

	res = h.post("/v1/auth/logout", nil, first.auth())
	h.wantStatus("logout", res, http.StatusNoContent)
	h.wantCookieCleared("logout", res)
	h.wantEnded("me after logout", first)
	h.wantAlive("the other session after logout", second)

	h.wantAccepted("password-reset", h.post("/v1/auth/password-reset", map[string]string{"email": addr}))
	token = h.mailToken(addr, topicPasswordReset)
	res = h.confirmReset(token, pass3)
	h.wantStatus("password-reset/confirm", res, http.StatusNoContent)
	h.wantNoCookie("password-reset/confirm", res)
	h.wantEnded("a session after the reset", second)

	h.wantProblem("login with the password before the reset", h.login(addr, pass2, false), http.StatusUnauthorized, "invalid_credentials")
	third := h.startSession(addr, pass3, false)
	h.wantAlive("me with the new password's session", third)
	if got := h.topics(addr); !cmp.Equal(got, []string{topicVerifyEmail, topicPasswordChanged, topicPasswordReset, topicPasswordChanged}) {
		t.Errorf("mail to %s: got %v, want verify, changed, reset, changed", addr, got)
	}
}

func cookieFlags(t *testing.T, h *harness) {
	const addr, pass = "grace@example.com", "grace's long passphrase"
	h.newUser(addr, pass)
	res := h.login(addr, pass, false)
	h.wantStatus("login", res, http.StatusOK)
	var lb loginBody
	h.decode("login", res, &lb)
	cs := h.setCookies(res)
	if len(cs) != 1 {
		t.Fatalf("login: got Set-Cookie %q, want one session cookie", res.header.Values("Set-Cookie"))
	}
	c := cs[0]
	if !strings.HasPrefix(c.Name, "__Host-") {
		t.Errorf("cookie name: got %q, want the __Host- prefix", c.Name)
	}
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("Set-Cookie %q: want Secure, HttpOnly, Path=/, no Domain, SameSite=Lax", c.Raw)
	}
	if len(c.Value) < 22 {
		t.Errorf("cookie value: got %d characters, want at least 22 (128 bits)", len(c.Value))
	}
	now := h.env.Clock.Now()
	if want := int(lb.Session.ExpiresAt.Sub(now) / time.Second); c.MaxAge < want-1 || c.MaxAge > want+1 {
		t.Errorf("cookie Max-Age: got %d, want %d (until session.expires_at %v)", c.MaxAge, want, lb.Session.ExpiresAt)
	}
	if !c.Expires.Equal(lb.Session.ExpiresAt.Truncate(time.Second)) {
		t.Errorf("cookie Expires: got %v, want session.expires_at %v", c.Expires, lb.Session.ExpiresAt)
	}
	if strings.Contains(string(res.body), c.Value) {
		t.Errorf("login in cookie mode: the body carries the session token: %s", res.body)
	}
	var raw map[string]any
	h.decode("login", res, &raw)
	if _, ok := raw["token"]; ok {
		t.Errorf("login in cookie mode: got a token member in %s, want none", res.body)
	}
	if got := res.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("login: got Cache-Control %q, want no-store", got)
	}
	h.wantAlive("me with the cookie", session{cookie: c.Value})
}

func bearerMode(t *testing.T, h *harness) {
	const addr, pass = "linus@example.com", "linus's long passphrase"
	h.newUser(addr, pass)
	res := h.login(addr, pass, true)
	h.wantStatus("login with token: true", res, http.StatusOK)
	h.wantNoCookie("login with token: true", res)
	var lb loginBody
	h.decode("login", res, &lb)
	if len(lb.Token) < 22 {
		t.Fatalf("login with token: true: got token %q, want one of at least 22 characters", lb.Token)
	}
	if lb.User.Email != addr || lb.Session.ExpiresAt.IsZero() {
		t.Errorf("login with token: true: got user %+v, session expiring %v", lb.User, lb.Session.ExpiresAt)
	}
	s := session{bearer: lb.Token}
	h.wantAlive("me with the bearer token", s)
	h.wantProblem("me with the token in the URL", h.get("/v1/me?access_token="+lb.Token), http.StatusUnauthorized, "unauthenticated")

	res = h.post("/v1/auth/logout", nil, s.auth())
	h.wantStatus("logout with the bearer token", res, http.StatusNoContent)
	h.wantNoCookie("logout with the bearer token", res)
	h.wantEnded("me after logout", s)
}

func sessionRotation(t *testing.T, h *harness) {
	const addr, pass = "barbara@example.com", "barbara's long passphrase"
	h.newUser(addr, pass)
	planted := h.startSession(addr, pass, false)
	// An attacker who knows a valid token plants it before the victim
	// signs in: the sign-in must not keep it.
	res := h.login(addr, pass, false, withCookie(planted.cookie))
	h.wantStatus("login with a planted cookie", res, http.StatusOK)
	cs := h.setCookies(res)
	if len(cs) != 1 || cs[0].Value == "" || cs[0].Value == planted.cookie {
		t.Fatalf("login with a planted cookie: got Set-Cookie %q, want a new token", res.header.Values("Set-Cookie"))
	}
	fresh := session{cookie: cs[0].Value}
	h.wantAlive("the new session", fresh)
	again := h.startSession(addr, pass, false)
	if again.cookie == fresh.cookie {
		t.Errorf("two logins gave the same token")
	}
}
