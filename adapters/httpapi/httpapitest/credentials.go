package httpapitest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// credentialCases cover sign-in failures, enumeration and rate limits.
func credentialCases() []accountCase {
	return []accountCase{
		{"a wrong password and an unknown address get the same 401 invalid_credentials", wrongPasswordLikeUnknownAddress},
		{"an unverified account gets 403 email_not_verified for the right password and 401 invalid_credentials for a wrong one", unverifiedAccount},
		{"signup for a taken address answers the same 202 and mails a notice, not a verification link", signupTakenAddress},
		{"password-reset and resend answer the same 202 for unknown addresses and mail nobody", resetAndResendUnknownAddress},
		{"new passwords and addresses break no rule, or the answer is 422 with the rule's code", inputRules},
		{"changing the password needs the current one", changePasswordNeedsCurrent},
		{"login is rate limited per client IP, X-Forwarded-For from an untrusted peer does not reset it, and 429 carries Retry-After", loginRateLimit},
	}
}

func wrongPasswordLikeUnknownAddress(t *testing.T, h *harness) {
	const addr, pass = "alan@example.com", "alan's long passphrase"
	h.newUser(addr, pass)
	wrong := h.login(addr, "not alan's passphrase", false)
	unknown := h.login("nobody@example.com", "not alan's passphrase", false)
	malformed := h.login("not an address", "not alan's passphrase", false)
	h.wantProblem("wrong password", wrong, http.StatusUnauthorized, "invalid_credentials")
	h.wantProblem("unknown address", unknown, http.StatusUnauthorized, "invalid_credentials")
	h.wantProblem("malformed address", malformed, http.StatusUnauthorized, "invalid_credentials")
	if diff := cmp.Diff(h.withoutRequestID(wrong), h.withoutRequestID(unknown)); diff != "" {
		t.Errorf("wrong password vs unknown address: bodies differ (-wrong +unknown):\n%s", diff)
	}
	if diff := cmp.Diff(headerNames(wrong.header), headerNames(unknown.header)); diff != "" {
		t.Errorf("wrong password vs unknown address: header names differ (-wrong +unknown):\n%s", diff)
	}
	h.wantNoCookie("wrong password", wrong)
	// The password is checked exactly as typed.
	for _, variant := range []string{strings.ToUpper(pass), pass + " ", " " + pass, pass[:len(pass)-1]} {
		h.wantProblem(fmt.Sprintf("login with %q", variant), h.login(addr, variant, false), http.StatusUnauthorized, "invalid_credentials")
	}
}

// headerNames returns the names of the headers, except those whose values
// are per request.
func headerNames(hd http.Header) []string {
	var out []string
	for name := range hd {
		switch name {
		case "Date", "Content-Length":
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func unverifiedAccount(t *testing.T, h *harness) {
	const addr, pass = "edsger@example.com", "edsger's long passphrase"
	h.wantAccepted("signup", h.signup(addr, pass))
	right := h.login(addr, pass, false)
	h.wantProblem("right password, unverified", right, http.StatusForbidden, "email_not_verified")
	h.wantNoCookie("right password, unverified", right)
	h.wantProblem("wrong password, unverified", h.login(addr, "not edsger's passphrase", false), http.StatusUnauthorized, "invalid_credentials")
	h.wantProblem("no password, unverified", h.login(addr, "", false), http.StatusUnauthorized, "invalid_credentials")
}

func signupTakenAddress(t *testing.T, h *harness) {
	const addr = "donald@example.com"
	first := h.signup(addr, "donald's first passphrase")
	h.wantAccepted("first signup", first)
	second := h.signup(addr, "someone else's passphrase")
	h.wantAccepted("signup for the taken address", second)
	if diff := cmp.Diff(h.withoutRequestID(first), h.withoutRequestID(second)); diff != "" {
		t.Errorf("signup new vs taken: bodies differ (-new +taken):\n%s", diff)
	}
	if diff := cmp.Diff(headerNames(first.header), headerNames(second.header)); diff != "" {
		t.Errorf("signup new vs taken: header names differ (-new +taken):\n%s", diff)
	}
	if got := h.topics(addr); !cmp.Equal(got, []string{topicVerifyEmail, topicAccountExists}) {
		t.Fatalf("mail to %s: got %v, want [%s %s]", addr, got, topicVerifyEmail, topicAccountExists)
	}
	notice := h.lastMail(addr, topicAccountExists)
	if tokenLink.MatchString(notice.Text) || tokenLink.MatchString(notice.HTML) {
		t.Errorf("the account_exists notice carries a token link:\n%s", notice.Text)
	}
	// The second signup changed nothing: the first link and password work,
	// the second password does not.
	h.wantStatus("verify-email with the first link", h.verify(h.mailToken(addr, topicVerifyEmail)), http.StatusNoContent)
	h.wantProblem("login with the second signup's password", h.login(addr, "someone else's passphrase", false), http.StatusUnauthorized, "invalid_credentials")
	h.startSession(addr, "donald's first passphrase", false)
}

func resetAndResendUnknownAddress(t *testing.T, h *harness) {
	const addr, pass = "frances@example.com", "frances's long passphrase"
	h.newUser(addr, pass)
	for _, path := range []string{"/v1/auth/password-reset", "/v1/auth/verify-email/resend"} {
		known := h.post(path, map[string]string{"email": addr})
		unknown := h.post(path, map[string]string{"email": "nobody@example.com"})
		h.wantAccepted(path+" known address", known)
		h.wantAccepted(path+" unknown address", unknown)
		if diff := cmp.Diff(headerNames(known.header), headerNames(unknown.header)); diff != "" {
			t.Errorf("%s known vs unknown: header names differ (-known +unknown):\n%s", path, diff)
		}
	}
	if got := h.mails("nobody@example.com"); len(got) != 0 {
		t.Errorf("mail to an unknown address: got %d messages, want none", len(got))
	}
	// A verified account gets a reset link, and no new verification link.
	if got := h.topics(addr); !cmp.Equal(got, []string{topicVerifyEmail, topicPasswordReset}) {
		t.Errorf("mail to %s: got %v, want [%s %s]", addr, got, topicVerifyEmail, topicPasswordReset)
	}
}

func inputRules(t *testing.T, h *harness) {
	cases := []struct {
		name     string
		path     string
		body     any
		code     string
		location string
	}{
		{"signup with a short password", "/v1/auth/signup", credentials{"kurt@example.com", "short"}, "password_too_short", "body.password"},
		{"signup with a too long password", "/v1/auth/signup", credentials{"kurt@example.com", strings.Repeat("long ", 26)}, "password_too_long", "body.password"},
		{"signup with the address as password", "/v1/auth/signup", credentials{"kurt@example.com", "KURT@example.com"}, "password_is_email", "body.password"},
		{"signup with an invalid address", "/v1/auth/signup", credentials{"kurt at example", "kurt's long passphrase"}, "invalid_email", "body.email"},
		{"signup without a password", "/v1/auth/signup", map[string]string{"email": "kurt@example.com"}, "validation_failed", "body"},
		{"signup with an unknown member", "/v1/auth/signup", map[string]any{"email": "kurt@example.com", "password": "kurt's long passphrase", "email_verified": true}, "validation_failed", "body.email_verified"},
		{"password-reset with an invalid address", "/v1/auth/password-reset", map[string]string{"email": "kurt@"}, "invalid_email", "body.email"},
	}
	for _, tc := range cases {
		if c, ok := tc.body.(credentials); ok {
			h.secrets.add(c.Password)
		}
		p := h.wantProblem(tc.name, h.post(tc.path, tc.body), http.StatusUnprocessableEntity, tc.code)
		var locations []string
		for _, e := range p.Errors {
			locations = append(locations, e.Location)
		}
		if !cmp.Equal(locations, []string{tc.location}) {
			t.Errorf("%s: got error locations %v, want [%s]", tc.name, locations, tc.location)
		}
	}
	// A 128-character passphrase of any characters is fine, and is used as typed.
	long := strings.Repeat("é 🙂 ", 32)
	h.newUser("kurt@example.com", long)
	h.startSession("kurt@example.com", long, true)
	if got := h.mails("kurt@example.com"); len(got) != 1 {
		t.Errorf("mail to kurt@example.com: got %d messages, want the one verification mail (the refused signups sent none)", len(got))
	}
}

func changePasswordNeedsCurrent(t *testing.T, h *harness) {
	const addr, pass = "hedy@example.com", "hedy's long passphrase"
	h.newUser(addr, pass)
	s := h.startSession(addr, pass, false)
	other := h.startSession(addr, pass, true)
	h.secrets.add("hedy's new passphrase")
	res := h.post("/v1/me/password", map[string]string{"current_password": "not hedy's passphrase", "password": "hedy's new passphrase"}, s.auth())
	h.wantProblem("change with a wrong current password", res, http.StatusUnprocessableEntity, "current_password_incorrect")
	res = h.post("/v1/me/password", map[string]string{"current_password": pass, "password": "short"}, s.auth())
	h.wantProblem("change to a short password", res, http.StatusUnprocessableEntity, "password_too_short")
	h.wantProblem("change without a session", h.post("/v1/me/password", map[string]string{"current_password": pass, "password": "hedy's new passphrase"}),
		http.StatusUnauthorized, "unauthenticated")
	h.wantAlive("the other session after refused changes", other)
	h.startSession(addr, pass, true)
	for _, m := range h.mails(addr) {
		if m.topic == topicPasswordChanged {
			t.Errorf("a refused change mailed a password_changed notice")
		}
	}
}

func loginRateLimit(t *testing.T, h *harness) {
	const attempts = 200 // far above any sane per-IP limit
	var limited response
	for i := range attempts {
		// A new address each time, so only the per-IP limit can trip, and
		// a new forged client address each time, which must not count.
		forged := fmt.Sprintf("203.0.113.%d", i%250+1)
		res := h.login(fmt.Sprintf("guess%d@example.com", i), "a guessed passphrase",
			false, withHeader("X-Forwarded-For", forged), withHeader("X-Real-IP", forged))
		if res.status == http.StatusTooManyRequests {
			limited = res
			break
		}
		h.wantProblem(fmt.Sprintf("attempt %d", i+1), res, http.StatusUnauthorized, "invalid_credentials")
	}
	if limited.status == 0 {
		t.Fatalf("%d failed logins from one peer with rotating X-Forwarded-For: none was rate limited", attempts)
	}
	h.wantProblem("rate limited login", limited, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(limited.header.Get("Retry-After"))
	if err != nil || retry <= 0 {
		t.Fatalf("rate limited login: got Retry-After %q, want a positive number of seconds", limited.header.Get("Retry-After"))
	}
	// The limit holds for the right password too, until the window ends.
	const addr, pass = "tim@example.com", "tim's long passphrase"
	h.wantAccepted("signup", h.signup(addr, pass))
	h.wantStatus("verify-email", h.verify(h.mailToken(addr, topicVerifyEmail)), http.StatusNoContent)
	h.wantProblem("the right password while limited", h.login(addr, pass, false), http.StatusTooManyRequests, "rate_limited")
	h.env.Clock.Advance(time.Duration(retry) * time.Second)
	h.startSession(addr, pass, false)
}
