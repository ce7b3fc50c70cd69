package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// spyHasher counts calls to a real (cheap) argon2id hasher.
type spyHasher struct {
	ports.PasswordHasher
	verifies, dummies atomic.Int32
}

func (s *spyHasher) Verify(pw, enc string) (bool, bool, error) {
	s.verifies.Add(1)
	return s.PasswordHasher.Verify(pw, enc)
}

func (s *spyHasher) DummyVerify(pw string) {
	s.dummies.Add(1)
	s.PasswordHasher.DummyVerify(pw)
}

func cheapHasher(t testing.TB, memory uint32) *argon2id.Hasher {
	t.Helper()
	h, err := argon2id.NewWithOptions(argon2id.Options{Params: argon2id.Params{Memory: memory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type fixture struct {
	accounts *app.Accounts
	store    *inmem.Store
	clock    *inmem.Clock
	hasher   *spyHasher
}

func newFixture(t testing.TB, hasher ports.PasswordHasher) *fixture {
	t.Helper()
	store := inmem.NewStore()
	clock := inmem.NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	spy := &spyHasher{PasswordHasher: hasher}
	accounts, err := app.NewAccounts(app.AccountStores{Tx: store, Users: store, Tokens: store, Sessions: store, Limiter: store, Outbox: store},
		spy, clock, app.AccountsConfig{AppBaseURL: "https://app.example.com", Sessions: domain.DefaultSessionPolicy(), Limits: app.DefaultRateLimits()},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{accounts: accounts, store: store, clock: clock, hasher: spy}
}

var tokenLink = regexp.MustCompile(`#token=([A-Za-z0-9_-]+)`)

// lastToken returns the token in the newest mail of the given template.
func (f *fixture) lastToken(t testing.TB, template string) string {
	t.Helper()
	msgs := f.store.OutboxMessages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic != template {
			continue
		}
		var m domain.MailMessage
		if err := json.Unmarshal(msgs[i].Payload, &m); err != nil {
			t.Fatal(err)
		}
		if sub := tokenLink.FindStringSubmatch(m.Text); sub != nil {
			return sub[1]
		}
	}
	t.Fatalf("no %s mail with a token in the outbox", template)
	return ""
}

func (f *fixture) topics() []string {
	var out []string
	for _, m := range f.store.OutboxMessages() {
		out = append(out, m.Topic)
	}
	return out
}

func (f *fixture) verifiedUser(t testing.TB, email, password string) {
	t.Helper()
	ctx := context.Background()
	if err := f.accounts.Signup(ctx, email, password, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := f.accounts.VerifyEmail(ctx, f.lastToken(t, app.TemplateVerifyEmail), "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginCostsTheSameForUnknownAddresses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	f.verifiedUser(t, "known@example.com", "correct horse battery")
	f.hasher.verifies.Store(0)

	_, errUnknown := f.accounts.Login(context.Background(), "nobody@example.com", "whatever-password", "192.0.2.2")
	if got := f.hasher.dummies.Load(); got != 1 {
		t.Errorf("unknown address: got %d dummy verifications, want 1", got)
	}
	_, errWrong := f.accounts.Login(context.Background(), "known@example.com", "wrong password", "192.0.2.2")
	if got := f.hasher.verifies.Load(); got != 1 {
		t.Errorf("wrong password: got %d verifications, want 1", got)
	}
	_, errMalformed := f.accounts.Login(context.Background(), "not-an-address", "whatever-password", "192.0.2.2")
	if got := f.hasher.dummies.Load(); got != 2 {
		t.Errorf("malformed address: got %d dummy verifications in all, want 2", got)
	}
	for name, err := range map[string]error{"unknown": errUnknown, "wrong": errWrong, "malformed": errMalformed} {
		if domain.KindOf(err) != domain.KindUnauthenticated || domain.CodeOf(err) != app.CodeInvalidCredentials || domain.PublicMessage(err) != domain.PublicMessage(errWrong) {
			t.Errorf("%s: got %v, want the same invalid_credentials error for every case", name, err)
		}
	}
}

func TestLoginUpgradesOldHashParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	f.verifiedUser(t, "old@example.com", "correct horse battery")
	user, err := f.store.UserByEmail(context.Background(), mustEmail(t, "old@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	// The service now hashes with more memory: the stored hash is outdated.
	g := newFixture(t, cheapHasher(t, 128))
	g.store = f.store
	upgraded, err := app.NewAccounts(app.AccountStores{Tx: f.store, Users: f.store, Tokens: f.store, Sessions: f.store, Limiter: f.store, Outbox: f.store},
		g.hasher, f.clock, app.AccountsConfig{AppBaseURL: "https://app.example.com", Sessions: domain.DefaultSessionPolicy(), Limits: app.DefaultRateLimits()},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := upgraded.Login(context.Background(), "old@example.com", "correct horse battery", "192.0.2.3"); err != nil {
		t.Fatal(err)
	}
	after, err := f.store.UserByID(context.Background(), user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(user.PasswordHash, "m=64,") || !strings.Contains(after.PasswordHash, "m=128,") {
		t.Fatalf("got hash %q after login (was %q), want it re-hashed with m=128", after.PasswordHash, user.PasswordHash)
	}
}

func TestResetWithABadPasswordLeavesTheTokenUnspent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	ctx := context.Background()
	f.verifiedUser(t, "reset@example.com", "correct horse battery")
	if err := f.accounts.RequestPasswordReset(ctx, "reset@example.com", "192.0.2.4"); err != nil {
		t.Fatal(err)
	}
	token := f.lastToken(t, app.TemplatePasswordReset)
	err := f.accounts.ConfirmPasswordReset(ctx, token, "RESET@example.com", "192.0.2.4")
	if domain.CodeOf(err) != domain.CodePasswordIsEmail {
		t.Fatalf("got %v, want %s", err, domain.CodePasswordIsEmail)
	}
	if err := f.accounts.ConfirmPasswordReset(ctx, token, "a brand new passphrase", "192.0.2.4"); err != nil {
		t.Fatalf("the token should still work after a refused password: %v", err)
	}
	if _, err := f.accounts.Login(ctx, "reset@example.com", "a brand new passphrase", "192.0.2.4"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

func TestResetVerifiesAnUnverifiedAddressOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	ctx := context.Background()
	if err := f.accounts.Signup(ctx, "late@example.com", "correct horse battery", "192.0.2.5"); err != nil {
		t.Fatal(err)
	}
	if err := f.accounts.RequestPasswordReset(ctx, "late@example.com", "192.0.2.5"); err != nil {
		t.Fatal(err)
	}
	if err := f.accounts.ConfirmPasswordReset(ctx, f.lastToken(t, app.TemplatePasswordReset), "another passphrase", "192.0.2.5"); err != nil {
		t.Fatal(err)
	}
	// The old verification link still works and changes nothing more.
	if err := f.accounts.VerifyEmail(ctx, f.lastToken(t, app.TemplateVerifyEmail), "192.0.2.5"); err != nil {
		t.Fatal(err)
	}
	var verified int
	for _, topic := range f.topics() {
		if topic == app.EventUserEmailVerified {
			verified++
		}
	}
	if verified != 1 {
		t.Fatalf("got %d user.email_verified events (outbox %v), want exactly 1", verified, f.topics())
	}
}

func TestSignupOfATakenAddressOnlyNotifiesItsOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	ctx := context.Background()
	f.verifiedUser(t, "taken@example.com", "correct horse battery")
	before := len(f.store.OutboxMessages())
	if err := f.accounts.Signup(ctx, "Taken@Example.com", "some other password", "192.0.2.6"); err != nil {
		t.Fatalf("got %v, want the same success as for a new address", err)
	}
	added := f.topics()[before:]
	if len(added) != 1 || added[0] != app.TemplateAccountExists {
		t.Fatalf("got outbox additions %v, want only %s", added, app.TemplateAccountExists)
	}
	if _, err := f.accounts.Login(ctx, "taken@example.com", "correct horse battery", "192.0.2.6"); err != nil {
		t.Fatalf("the original password must still work: %v", err)
	}
}

func TestAuthenticateWritesOnlyOncePerTouchInterval(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	ctx := context.Background()
	f.verifiedUser(t, "touch@example.com", "correct horse battery")
	s, err := f.accounts.Login(ctx, "touch@example.com", "correct horse battery", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	lastSeen := func() time.Time {
		sess, _, err := f.store.SessionByTokenHash(ctx, domain.HashToken(s.Token))
		if err != nil {
			t.Fatal(err)
		}
		return sess.LastSeenAt
	}
	start := lastSeen()
	f.clock.Advance(domain.DefaultSessionTouchInterval / 2)
	if _, err := f.accounts.Authenticate(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.Equal(start) {
		t.Fatalf("got last seen %v within the touch interval, want no write (%v)", got, start)
	}
	f.clock.Advance(domain.DefaultSessionTouchInterval)
	if _, err := f.accounts.Authenticate(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if got := lastSeen(); !got.After(start) {
		t.Fatalf("got last seen %v after the touch interval, want it refreshed", got)
	}
	f.clock.Advance(domain.DefaultSessionIdleTimeout + time.Second)
	if _, err := f.accounts.Authenticate(ctx, s.Token); domain.CodeOf(err) != domain.CodeSessionExpired {
		t.Fatalf("got %v after the idle timeout, want %s", err, domain.CodeSessionExpired)
	}
}

func TestRateLimitSaysWhenToComeBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, cheapHasher(t, 64))
	ctx := context.Background()
	limit := app.DefaultRateLimits().ResetPerAddress
	var err error
	for range limit.Attempts + 1 {
		err = f.accounts.RequestPasswordReset(ctx, "anyone@example.com", "192.0.2.8")
	}
	if domain.KindOf(err) != domain.KindRateLimited || domain.RetryAfterOf(err) <= 0 || domain.RetryAfterOf(err) > limit.Window {
		t.Fatalf("got %v (retry after %v), want rate_limited with a wait within the window", err, domain.RetryAfterOf(err))
	}
}

func mustEmail(t *testing.T, s string) domain.Email {
	t.Helper()
	e, err := domain.ParseEmail(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
