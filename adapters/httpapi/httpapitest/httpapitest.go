// Package httpapitest holds the HTTP contract suites of gatehouse's API:
// black-box walks over real HTTP through every accounts operation
// (RunAccounts) and every uploads operation (RunUploads) and their failure
// paths, run against the server wired with the in-memory adapters (fast) and
// with the real ones (PostgreSQL, an S3-compatible store), so both are held
// to the same contract.
//
// A run gets a fresh server per case from newEnv and talks to it only over
// HTTP, plus two side doors a browser user also has: the mail the server
// sends (read from the outbox, where the verification and reset links are)
// and the passing of time (the use cases' clock). The uploads suite also
// PUTs and GETs the object store's presigned URLs, and stands in for the
// malware scanner through UploadsEnv.
package httpapitest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// Clock is the clock the server's use cases read, which the suite moves
// forward to expire tokens, sessions and rate-limit windows.
// *inmem.Clock is one.
type Clock interface {
	Now() time.Time
	Advance(d time.Duration)
}

// Env is one running server with empty storage, as newEnv returns it.
//
// The server must be wired the way production is, with these settings:
// default rate limits and session policy (app.DefaultRateLimits,
// domain.DefaultSessionPolicy), no trusted proxies (so the suite's loopback
// connection is the client and X-Forwarded-For is ignored), and
// AllowedOrigin in its CORS allowlist. Everything else is the
// implementation's choice, the password hasher included (a cheap
// configuration keeps the suite fast).
type Env struct {
	// BaseURL is the server's root, such as http://127.0.0.1:41234 (no
	// trailing slash), served by the real handler (httptest.NewServer).
	BaseURL string
	// Outbox returns every message the server has enqueued so far, oldest
	// first. The suite reads mail from it: rendered messages whose text
	// carries links ending in #token=<token>.
	Outbox func() []domain.OutboxMessage
	// Clock is the clock the server's use cases read.
	Clock Clock
	// AllowedOrigin is one origin of the server's CORS allowlist, such as
	// https://app.example.com: the frontend.
	AllowedOrigin string
	// Logs, when set, returns everything the server (HTTP layer and use
	// cases) has logged so far. Each case then checks, once its server is
	// closed, that no password, token, cookie value or mail body it
	// handled appears in it.
	Logs func() string
}

// RunAccounts runs the accounts contract: one subtest per rule, each on its
// own Env from newEnv, in parallel. newEnv must register the Env's cleanup
// (closing the server) with t.Cleanup.
func RunAccounts(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Helper()
	for _, c := range accountCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, newEnv)
			c.run(t, h)
		})
	}
}

// accountCase is one rule of the contract.
type accountCase struct {
	name string
	run  func(t *testing.T, h *harness)
}

func accountCases() []accountCase {
	var cases []accountCase
	cases = append(cases, flowCases()...)
	cases = append(cases, credentialCases()...)
	cases = append(cases, tokenCases()...)
	cases = append(cases, sessionCases()...)
	cases = append(cases, browserCases()...)
	return cases
}
