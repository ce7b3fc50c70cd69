package httpapitest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// tokenCases cover the one-time tokens in verification and reset links.
func tokenCases() []accountCase {
	return []accountCase{
		{"a verification token works once", verifyTokenOnce},
		{"a verification token works for 24 hours and not a second longer", verifyTokenExpires},
		{"a reset token works once and for 30 minutes only", resetTokenOnceAndExpires},
		{"a token works only for its own purpose, and misuse does not spend it", tokenPurpose},
		{"asking for a new verification link voids the earlier one", resendVoidsEarlierLink},
		{"malformed tokens are invalid_token like unknown ones", malformedTokens},
		{"20 concurrent reset-confirms with one token: exactly one succeeds", concurrentResetConfirm},
	}
}

// requestReset asks for a reset link for addr and returns its token.
func (h *harness) requestReset(addr string) string {
	h.t.Helper()
	h.wantAccepted("password-reset "+addr, h.post("/v1/auth/password-reset", map[string]string{"email": addr}))
	return h.mailToken(addr, topicPasswordReset)
}

func verifyTokenOnce(t *testing.T, h *harness) {
	const addr = "john@example.com"
	h.wantAccepted("signup", h.signup(addr, "john's long passphrase"))
	token := h.mailToken(addr, topicVerifyEmail)
	h.wantStatus("first use", h.verify(token), http.StatusNoContent)
	h.wantProblem("second use", h.verify(token), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	h.startSession(addr, "john's long passphrase", false)
}

func verifyTokenExpires(t *testing.T, h *harness) {
	early, late := "early@example.com", "late@example.com"
	h.wantAccepted("signup early", h.signup(early, "early's long passphrase"))
	h.wantAccepted("signup late", h.signup(late, "late's long passphrase"))
	earlyToken, lateToken := h.mailToken(early, topicVerifyEmail), h.mailToken(late, topicVerifyEmail)

	h.env.Clock.Advance(domain.VerifyEmailTTL - time.Second)
	h.wantStatus("verify a second before expiry", h.verify(earlyToken), http.StatusNoContent)
	h.env.Clock.Advance(2 * time.Second)
	h.wantProblem("verify a second after expiry", h.verify(lateToken), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	h.wantProblem("login with the expired link unused", h.login(late, "late's long passphrase", false), http.StatusForbidden, "email_not_verified")
}

func resetTokenOnceAndExpires(t *testing.T, h *harness) {
	early, late := "early@example.com", "late@example.com"
	h.newUser(early, "early's long passphrase")
	h.newUser(late, "late's long passphrase")
	earlyToken, lateToken := h.requestReset(early), h.requestReset(late)

	h.env.Clock.Advance(domain.PasswordResetTTL - time.Second)
	h.wantStatus("confirm a second before expiry", h.confirmReset(earlyToken, "early's new passphrase"), http.StatusNoContent)
	h.wantProblem("confirm the same token again", h.confirmReset(earlyToken, "early's newer passphrase"), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	h.env.Clock.Advance(2 * time.Second)
	h.wantProblem("confirm a second after expiry", h.confirmReset(lateToken, "late's new passphrase"), http.StatusUnprocessableEntity, domain.CodeInvalidToken)

	h.startSession(early, "early's new passphrase", true)
	h.startSession(late, "late's long passphrase", true)
	h.wantProblem("login with the password of the refused reuse", h.login(early, "early's newer passphrase", false), http.StatusUnauthorized, "invalid_credentials")
}

func tokenPurpose(t *testing.T, h *harness) {
	const addr, pass = "ken@example.com", "ken's long passphrase"
	h.wantAccepted("signup", h.signup(addr, pass))
	verifyToken := h.mailToken(addr, topicVerifyEmail)
	h.wantProblem("a verification token at reset-confirm", h.confirmReset(verifyToken, "ken's new passphrase"), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	h.wantStatus("the verification token where it belongs", h.verify(verifyToken), http.StatusNoContent)

	resetToken := h.requestReset(addr)
	h.wantProblem("a reset token at verify-email", h.verify(resetToken), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	h.wantStatus("the reset token where it belongs", h.confirmReset(resetToken, "ken's new passphrase"), http.StatusNoContent)
	h.startSession(addr, "ken's new passphrase", false)
}

func resendVoidsEarlierLink(t *testing.T, h *harness) {
	const addr = "niklaus@example.com"
	h.wantAccepted("signup", h.signup(addr, "niklaus's long passphrase"))
	first := h.mailToken(addr, topicVerifyEmail)
	h.wantAccepted("resend", h.post("/v1/auth/verify-email/resend", map[string]string{"email": addr}))
	second := h.mailToken(addr, topicVerifyEmail)
	if first == second {
		t.Fatalf("resend mailed the same token again")
	}
	h.wantProblem("the earlier link", h.verify(first), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	h.wantStatus("the new link", h.verify(second), http.StatusNoContent)
}

func malformedTokens(t *testing.T, h *harness) {
	for _, token := range []string{
		"",
		"short",
		strings.Repeat("A", 42),
		strings.Repeat("A", 44),
		strings.Repeat("A", 42) + "!",
		strings.Repeat("A", 42) + "\n",
		strings.Repeat("A", 43), // well formed, unknown
	} {
		h.wantProblem(fmt.Sprintf("verify-email with %q", token), h.verify(token), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
		h.wantProblem(fmt.Sprintf("reset-confirm with %q", token), h.confirmReset(token, "a long new passphrase"), http.StatusUnprocessableEntity, domain.CodeInvalidToken)
	}
}

func concurrentResetConfirm(t *testing.T, h *harness) {
	const addr, n = "leslie@example.com", 20
	h.newUser(addr, "leslie's long passphrase")
	s := h.startSession(addr, "leslie's long passphrase", true)
	token := h.requestReset(addr)

	passwords := make([]string, n)
	statuses := make([]int, n)
	codes := make([]string, n)
	for i := range passwords {
		passwords[i] = fmt.Sprintf("leslie's concurrent passphrase %02d", i)
		h.secrets.add(passwords[i])
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			// Not h.confirmReset: its t.Fatalf must not run off the test's goroutine.
			res, err := h.tryPost("/v1/auth/password-reset/confirm", map[string]string{"token": token, "password": passwords[i]})
			if err != nil {
				t.Errorf("confirm %d: %v", i, err)
				return
			}
			statuses[i], codes[i] = res.status, problemCode(res)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, st := range statuses {
		switch {
		case st == http.StatusNoContent && winner < 0:
			winner = i
		case st == http.StatusNoContent:
			t.Errorf("confirm %d also succeeded (after %d): a token was spent twice", i, winner)
		case st != http.StatusUnprocessableEntity || codes[i] != domain.CodeInvalidToken:
			t.Errorf("confirm %d: got %d %q, want 204 or 422 %s", i, st, codes[i], domain.CodeInvalidToken)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent confirms succeeded; statuses %v", n, statuses)
	}
	h.startSession(addr, passwords[winner], true)
	loser := (winner + 1) % n
	h.wantProblem("login with a losing confirm's password", h.login(addr, passwords[loser], false), http.StatusUnauthorized, "invalid_credentials")
	h.wantEnded("the session from before the reset", s)
}
