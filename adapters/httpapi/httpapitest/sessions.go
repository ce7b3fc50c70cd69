package httpapitest

import (
	"net/http"
	"strings"
	"testing"
)

// sessionCases cover session lifetimes and revocation.
func sessionCases() []accountCase {
	return []accountCase{
		{"logout-all ends every session of the user, and only of that user", logoutAll},
		{"changing the password ends the other sessions but not this one", changePasswordRevokesOthers},
		{"a password reset ends every session and signs nobody in", resetRevokesAll},
		{"a session ends at its expires_at at the latest, as session_expired, and the cookie is cleared", sessionExpires},
		{"requests without a usable session get 401 with the reason", unauthenticated},
	}
}

func logoutAll(t *testing.T, h *harness) {
	const addr, pass = "radia@example.com", "radia's long passphrase"
	const other, otherPass = "whitfield@example.com", "whitfield's long passphrase"
	h.newUser(addr, pass)
	h.newUser(other, otherPass)
	a := h.startSession(addr, pass, false)
	b := h.startSession(addr, pass, false)
	c := h.startSession(addr, pass, true)
	bystander := h.startSession(other, otherPass, false)

	res := h.post("/v1/auth/logout-all", nil, b.auth())
	h.wantStatus("logout-all", res, http.StatusNoContent)
	h.wantCookieCleared("logout-all", res)
	for name, s := range map[string]session{"cookie session a": a, "cookie session b (this one)": b, "bearer session": c} {
		h.wantEnded(name+" after logout-all", s)
	}
	h.wantAlive("another user's session after logout-all", bystander)

	res = h.post("/v1/auth/logout-all", nil, b.auth())
	h.wantProblem("logout-all with the ended session", res, http.StatusUnauthorized, "invalid_session")
	h.wantCookieCleared("logout-all with the ended session", res)
}

func changePasswordRevokesOthers(t *testing.T, h *harness) {
	const addr, pass, next = "ada2@example.com", "ada's long passphrase", "ada's next passphrase"
	h.newUser(addr, pass)
	this := h.startSession(addr, pass, false)
	otherCookie := h.startSession(addr, pass, false)
	otherBearer := h.startSession(addr, pass, true)

	h.secrets.add(next)
	res := h.post("/v1/me/password", map[string]string{"current_password": pass, "password": next}, this.auth())
	h.wantStatus("change password", res, http.StatusNoContent)
	h.wantNoCookie("change password", res)
	h.wantAlive("this session after the change", this)
	h.wantEnded("another cookie session after the change", otherCookie)
	h.wantEnded("a bearer session after the change", otherBearer)
	h.lastMail(addr, topicPasswordChanged)
}

func resetRevokesAll(t *testing.T, h *harness) {
	const addr, pass, next = "margaret@example.com", "margaret's long passphrase", "margaret's next passphrase"
	h.newUser(addr, pass)
	cookie := h.startSession(addr, pass, false)
	bearer := h.startSession(addr, pass, true)
	token := h.requestReset(addr)
	h.wantAlive("a session after asking for a reset", cookie)
	h.startSession(addr, pass, true) // the old password works until the link is used

	res := h.confirmReset(token, next, cookie.auth())
	h.wantStatus("confirm", res, http.StatusNoContent)
	h.wantNoCookie("confirm", res)
	if len(res.body) != 0 {
		t.Errorf("confirm: got body %s, want none (no token, no session)", res.body)
	}
	h.wantEnded("the cookie session after the reset", cookie)
	h.wantEnded("the bearer session after the reset", bearer)
	h.startSession(addr, next, false)
}

func sessionExpires(t *testing.T, h *harness) {
	const addr, pass = "alonzo@example.com", "alonzo's long passphrase"
	h.newUser(addr, pass)
	s := h.startSession(addr, pass, false)
	h.env.Clock.Advance(s.expiresAt.Sub(h.env.Clock.Now()))
	res := h.me(s)
	h.wantProblem("me at expires_at", res, http.StatusUnauthorized, "session_expired")
	h.wantCookieCleared("me at expires_at", res)
	h.startSession(addr, pass, false)
}

func unauthenticated(t *testing.T, h *harness) {
	const addr, pass = "katherine@example.com", "katherine's long passphrase"
	h.newUser(addr, pass)
	s := h.startSession(addr, pass, false)
	b := h.startSession(addr, pass, true)
	flipped := []byte(s.cookie)
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	cases := []struct {
		name string
		opts []reqOption
		code string
	}{
		{"nothing", nil, "unauthenticated"},
		{"an empty cookie", []reqOption{withHeader("Cookie", sessionCookieName+"=")}, "unauthenticated"},
		{"a cookie of another name", []reqOption{withHeader("Cookie", "session="+s.cookie)}, "unauthenticated"},
		{"a malformed cookie", []reqOption{withCookie("garbage")}, "invalid_session"},
		{"a cookie with one character changed", []reqOption{withCookie(string(flipped))}, "invalid_session"},
		{"a malformed bearer token", []reqOption{withBearer("garbage")}, "invalid_session"},
		{"an Authorization scheme other than Bearer", []reqOption{withHeader("Authorization", "Basic "+b.bearer)}, "invalid_session"},
		{"an Authorization header without a token", []reqOption{withHeader("Authorization", "Bearer")}, "invalid_session"},
		// The header is the only credential looked at when present.
		{"a bad bearer token next to a good cookie", []reqOption{withCookie(s.cookie), withBearer(strings.Repeat("A", 43))}, "invalid_session"},
	}
	for _, tc := range cases {
		h.wantProblem("me with "+tc.name, h.get("/v1/me", tc.opts...), http.StatusUnauthorized, tc.code)
	}
	for _, path := range []string{"/v1/auth/logout", "/v1/auth/logout-all"} {
		h.wantProblem(path+" without a session", h.post(path, nil), http.StatusUnauthorized, "unauthenticated")
	}
	h.wantAlive("the cookie session after all that", s)
	h.wantAlive("the bearer session after all that", b)
}
