package porttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// AccountStores is one implementation of the account storage ports, as the
// contract suite sees it. Tx must be the unit of work of the five stores:
// their calls with the context WithinTx hands to fn take part in it.
type AccountStores struct {
	Tx       ports.Tx
	Users    ports.UserStore
	Tokens   ports.TokenStore
	Sessions ports.SessionStore
	Limiter  ports.RateLimiter
	Outbox   ports.Outbox
	// ReadOutbox returns the committed outbox messages, in any order (the
	// database adapter reads its table). It fails the test itself on error.
	ReadOutbox func(ctx context.Context) []domain.OutboxMessage
}

// RunAccountStores runs the contracts of ports.Tx, UserStore, TokenStore,
// SessionStore, RateLimiter and Outbox against the implementation that
// newStores builds. newStores is called once per subtest and subtests run
// in parallel; they may share one database, since every subtest makes its
// own users, addresses, tokens and rate-limit keys.
//
// Times go in with microsecond precision in a zone other than UTC and are
// compared as instants to the microsecond, which is what timestamptz keeps.
func RunAccountStores(t *testing.T, newStores func(t *testing.T) AccountStores) {
	t.Helper()
	runUserStore(t, newStores)
	runTx(t, newStores)
	runTokenStore(t, newStores)
	runSessionStore(t, newStores)
	runOutbox(t, newStores)
	RunRateLimiter(t, func(t *testing.T) ports.RateLimiter { return newStores(t).Limiter })
}

// accountsT0 is the suite's "now": microsecond precision, not in UTC.
var accountsT0 = time.Date(2026, time.March, 14, 15, 9, 26, 535897000, time.FixedZone("UTC+2", 2*60*60))

// errAccountFn is what the suite's fns return to make a transaction fail.
var errAccountFn = errors.New("porttest: fn failed on purpose")

// accountOpts compares stored values as a database gives them back: times as
// instants to the microsecond, addresses by their normalised form.
var accountOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return accountInstant(a).Equal(accountInstant(b)) }),
	cmp.Transformer("Email", func(e domain.Email) string { return e.String() }),
}

func accountInstant(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// accountFixture is one subtest's stores with helpers that make rows and
// fail the test when a step that is not under test fails.
type accountFixture struct {
	AccountStores
	t   *testing.T
	ctx context.Context
}

func newAccountFixture(t *testing.T, newStores func(t *testing.T) AccountStores) accountFixture {
	t.Helper()
	return accountFixture{AccountStores: newStores(t), t: t, ctx: t.Context()}
}

func newAccountID(t *testing.T) string {
	t.Helper()
	id, err := domain.NewID(accountsT0, rand.Reader)
	if err != nil {
		t.Fatalf("NewID: %v", err)
	}
	return id
}

// newUserValue returns a user with a fresh id and address, not stored.
func (f accountFixture) newUserValue() domain.User {
	f.t.Helper()
	id := newAccountID(f.t)
	email, err := domain.ParseEmail("user-" + id + "@example.com")
	if err != nil {
		f.t.Fatalf("ParseEmail: %v", err)
	}
	return domain.NewUser(id, email, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", accountsT0)
}

// user stores and returns a fresh unverified user.
func (f accountFixture) user() domain.User {
	f.t.Helper()
	u := f.newUserValue()
	if err := f.Users.CreateUser(f.ctx, u); err != nil {
		f.t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// newTokenValue returns a token issued at now, not stored.
func (f accountFixture) newTokenValue(userID string, purpose domain.TokenPurpose, now time.Time) domain.OneTimeToken {
	f.t.Helper()
	_, tok, err := domain.IssueOneTimeToken(rand.Reader, newAccountID(f.t), userID, purpose, now)
	if err != nil {
		f.t.Fatalf("IssueOneTimeToken: %v", err)
	}
	return tok
}

// token stores and returns a token issued at accountsT0.
func (f accountFixture) token(userID string, purpose domain.TokenPurpose) domain.OneTimeToken {
	f.t.Helper()
	tok := f.newTokenValue(userID, purpose, accountsT0)
	if err := f.Tokens.CreateToken(f.ctx, tok); err != nil {
		f.t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

// newSessionValue returns a session started at now, not stored.
func (f accountFixture) newSessionValue(userID string, now time.Time) domain.Session {
	f.t.Helper()
	_, s, err := domain.NewSession(rand.Reader, newAccountID(f.t), userID, now, domain.DefaultSessionPolicy())
	if err != nil {
		f.t.Fatalf("NewSession: %v", err)
	}
	return s
}

// session stores and returns a session started at accountsT0.
func (f accountFixture) session(userID string) domain.Session {
	f.t.Helper()
	s := f.newSessionValue(userID, accountsT0)
	if err := f.Sessions.CreateSession(f.ctx, s); err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	return s
}

// wantAccountErr fails the test unless err has the kind and, when code is not
// empty, the code.
func wantAccountErr(t *testing.T, call string, err error, kind domain.Kind, code string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got nil error, want kind %v", call, kind)
	case domain.KindOf(err) != kind:
		t.Errorf("%s: got error %v (kind %v), want kind %v", call, err, domain.KindOf(err), kind)
	case code != "" && domain.CodeOf(err) != code:
		t.Errorf("%s: got error %v (code %q), want code %q", call, err, domain.CodeOf(err), code)
	}
}

// wantUser fails the test unless the stored user with u's id equals u.
func (f accountFixture) wantUser(u domain.User) {
	f.t.Helper()
	got, err := f.Users.UserByID(f.ctx, u.ID)
	if err != nil {
		f.t.Errorf("UserByID: got error %v, want nil", err)
		return
	}
	if d := cmp.Diff(got, u, accountOpts); d != "" {
		f.t.Errorf("stored user differs (-got +want):\n%s", d)
	}
}

// wantNoUser fails the test unless no user has u's id or address.
func (f accountFixture) wantNoUser(u domain.User) {
	f.t.Helper()
	_, err := f.Users.UserByID(f.ctx, u.ID)
	wantAccountErr(f.t, "UserByID", err, domain.KindNotFound, "")
	_, err = f.Users.UserByEmail(f.ctx, u.Email)
	wantAccountErr(f.t, "UserByEmail", err, domain.KindNotFound, "")
}

func runUserStore(t *testing.T, newStores func(t *testing.T) AccountStores) {
	t.Helper()

	t.Run("CreateUser stores a user that UserByID and UserByEmail return intact", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		verified := f.newUserValue()
		verified.MarkVerified(accountsT0.Add(time.Minute))
		for _, u := range []domain.User{f.newUserValue(), verified} {
			if err := f.Users.CreateUser(f.ctx, u); err != nil {
				t.Fatalf("CreateUser: got error %v, want nil", err)
			}
			f.wantUser(u)
			got, err := f.Users.UserByEmail(f.ctx, u.Email)
			if err != nil {
				t.Fatalf("UserByEmail: got error %v, want nil", err)
			}
			if d := cmp.Diff(got, u, accountOpts); d != "" {
				t.Errorf("UserByEmail differs (-got +want):\n%s", d)
			}
		}
	})

	t.Run("CreateUser refuses a taken address with email_taken", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		first := f.user()
		second := f.newUserValue()
		second.Email = first.Email
		err := f.Users.CreateUser(f.ctx, second)
		wantAccountErr(t, "CreateUser", err, domain.KindConflict, "email_taken")
		f.wantUser(first)
		_, err = f.Users.UserByID(f.ctx, second.ID)
		wantAccountErr(t, "UserByID of the refused user", err, domain.KindNotFound, "")
	})

	t.Run("UserByEmail of an unknown address is NotFound", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		f.user()
		_, err := f.Users.UserByEmail(f.ctx, f.newUserValue().Email)
		wantAccountErr(t, "UserByEmail", err, domain.KindNotFound, "")
	})

	for _, tc := range []struct{ name, id string }{
		{"UserByID of an unknown id is NotFound", ""},
		{"UserByID of an id that is not a UUID is NotFound", "not-a-uuid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			f.user()
			id := tc.id
			if id == "" {
				id = newAccountID(t)
			}
			_, err := f.Users.UserByID(f.ctx, id)
			wantAccountErr(t, "UserByID", err, domain.KindNotFound, "")
		})
	}

	t.Run("UpdateUser persists fn's changes", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		at := accountsT0.Add(time.Hour)
		want := u
		want.MarkVerified(at)
		want.SetPasswordHash("$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA", at)
		err := f.Users.UpdateUser(f.ctx, u.ID, func(got *domain.User) error {
			if d := cmp.Diff(*got, u, accountOpts); d != "" {
				t.Errorf("fn got a user that differs from the stored one (-got +want):\n%s", d)
			}
			got.MarkVerified(at)
			got.SetPasswordHash(want.PasswordHash, at)
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateUser: got error %v, want nil", err)
		}
		f.wantUser(want)
	})

	t.Run("UpdateUser stores nothing when fn fails and returns fn's error", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		err := f.Users.UpdateUser(f.ctx, u.ID, func(got *domain.User) error {
			got.MarkVerified(accountsT0)
			got.SetPasswordHash("changed", accountsT0)
			return errAccountFn
		})
		if !errors.Is(err, errAccountFn) {
			t.Errorf("UpdateUser: got error %v, want fn's error", err)
		}
		f.wantUser(u)
	})

	t.Run("UpdateUser of an unknown user is NotFound and does not call fn", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		called := false
		err := f.Users.UpdateUser(f.ctx, newAccountID(t), func(*domain.User) error {
			called = true
			return nil
		})
		wantAccountErr(t, "UpdateUser", err, domain.KindNotFound, "")
		if called {
			t.Error("fn was called, want not called")
		}
	})

	t.Run("UpdateUser never loses a concurrent update", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = f.Users.UpdateUser(f.ctx, u.ID, func(got *domain.User) error {
					got.PasswordHash += "+"
					return nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("UpdateUser #%d: got error %v, want nil", i, err)
			}
		}
		got, err := f.Users.UserByID(f.ctx, u.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if got, want := len(got.PasswordHash)-len(u.PasswordHash), n; got != want {
			t.Errorf("updates applied: got %d, want %d", got, want)
		}
	})
}

func runTx(t *testing.T, newStores func(t *testing.T) AccountStores) {
	t.Helper()

	// One transaction that writes through every store, over rows that exist
	// before it starts.
	for _, tc := range []struct {
		name  string
		fnErr error
	}{
		{"WithinTx keeps writes when fn succeeds", nil},
		{"WithinTx discards every store's writes when fn fails", errAccountFn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			kept := tc.fnErr == nil
			old := f.user()
			oldToken := f.token(old.ID, domain.PurposeVerifyEmail)
			oldSession := f.session(old.ID)
			touched := f.session(old.ID)
			touchAt := accountsT0.Add(10 * time.Minute)
			changed := old
			changed.SetPasswordHash("changed-in-tx", accountsT0.Add(time.Minute))

			fresh := f.newUserValue()
			freshToken := f.newTokenValue(fresh.ID, domain.PurposeVerifyEmail, accountsT0)
			freshSession := f.newSessionValue(fresh.ID, accountsT0)
			msg := outboxEvent(t, "user.registered")

			err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
				steps := []struct {
					call string
					err  error
				}{
					{"CreateUser", f.Users.CreateUser(ctx, fresh)},
					{"CreateToken", f.Tokens.CreateToken(ctx, freshToken)},
					{"CreateSession", f.Sessions.CreateSession(ctx, freshSession)},
					{"Enqueue", f.Outbox.Enqueue(ctx, msg)},
					{"UpdateUser", f.Users.UpdateUser(ctx, old.ID, func(u *domain.User) error {
						u.SetPasswordHash(changed.PasswordHash, changed.UpdatedAt)
						return nil
					})},
					{"ConsumeToken", func() error {
						_, err := f.Tokens.ConsumeToken(ctx, oldToken.Hash, domain.PurposeVerifyEmail, accountsT0.Add(time.Minute))
						return err
					}()},
					{"DeleteSession", f.Sessions.DeleteSession(ctx, oldSession.ID)},
					{"TouchSession", f.Sessions.TouchSession(ctx, touched.ID, touchAt)},
				}
				for _, s := range steps {
					if s.err != nil {
						t.Errorf("%s in the transaction: got error %v, want nil", s.call, s.err)
					}
				}
				return tc.fnErr
			})
			if tc.fnErr == nil && err != nil {
				t.Fatalf("WithinTx: got error %v, want nil", err)
			}
			if tc.fnErr != nil && !errors.Is(err, tc.fnErr) {
				t.Fatalf("WithinTx: got error %v, want fn's error", err)
			}

			if kept {
				f.wantUser(fresh)
				f.wantUser(changed)
			} else {
				f.wantNoUser(fresh)
				f.wantUser(old)
			}
			f.wantSession(freshSession, fresh, kept)
			f.wantSession(oldSession, old, !kept)
			wantTouched := touched
			if kept {
				wantTouched.LastSeenAt = touchAt
			}
			f.wantSessionValue(wantTouched)
			if got, want := len(f.readOutbox(msg.ID)), map[bool]int{true: 1, false: 0}[kept]; got != want {
				t.Errorf("outbox messages: got %d, want %d", got, want)
			}
			f.wantUsable(freshToken, kept)
			f.wantUsable(oldToken, !kept)
		})
	}

	t.Run("WithinTx shows fn its own writes", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.newUserValue()
		tok := f.newTokenValue(u.ID, domain.PurposePasswordReset, accountsT0)
		sess := f.newSessionValue(u.ID, accountsT0)
		err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
			if err := f.Users.CreateUser(ctx, u); err != nil {
				return fmt.Errorf("CreateUser: %w", err)
			}
			if got, err := f.Users.UserByEmail(ctx, u.Email); err != nil || got.ID != u.ID {
				t.Errorf("UserByEmail in the transaction: got %v, %v; want the new user", got.ID, err)
			}
			if err := f.Tokens.CreateToken(ctx, tok); err != nil {
				return fmt.Errorf("CreateToken: %w", err)
			}
			if _, err := f.Tokens.ConsumeToken(ctx, tok.Hash, tok.Purpose, accountsT0); err != nil {
				t.Errorf("ConsumeToken in the transaction: got error %v, want nil", err)
			}
			if err := f.Sessions.CreateSession(ctx, sess); err != nil {
				return fmt.Errorf("CreateSession: %w", err)
			}
			if got, _, err := f.Sessions.SessionByTokenHash(ctx, sess.TokenHash); err != nil || got.ID != sess.ID {
				t.Errorf("SessionByTokenHash in the transaction: got %v, %v; want the new session", got.ID, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WithinTx: got error %v, want nil", err)
		}
	})

	t.Run("WithinTx writes are invisible outside until it commits", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.newUserValue()
		err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
			if err := f.Users.CreateUser(ctx, u); err != nil {
				return err
			}
			// f.ctx carries no transaction: it reads what is committed.
			_, err := f.Users.UserByEmail(f.ctx, u.Email)
			wantAccountErr(t, "UserByEmail outside the running transaction", err, domain.KindNotFound, "")
			return nil
		})
		if err != nil {
			t.Fatalf("WithinTx: got error %v, want nil", err)
		}
		f.wantUser(u)
	})

	for _, tc := range []struct {
		name     string
		outerErr error
	}{
		{"WithinTx inside WithinTx keeps the inner writes when both succeed", nil},
		{"WithinTx inside WithinTx discards the inner writes when the outer fn fails", errAccountFn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			u := f.newUserValue()
			err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
				err := f.Tx.WithinTx(ctx, func(ctx context.Context) error {
					return f.Users.CreateUser(ctx, u)
				})
				if err != nil {
					t.Errorf("inner WithinTx: got error %v, want nil", err)
				}
				return tc.outerErr
			})
			if !errors.Is(err, tc.outerErr) {
				t.Fatalf("WithinTx: got error %v, want %v", err, tc.outerErr)
			}
			if tc.outerErr == nil {
				f.wantUser(u)
			} else {
				f.wantNoUser(u)
			}
		})
	}

	t.Run("WithinTx with a cancelled context fails and keeps nothing", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.newUserValue()
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		err := f.Tx.WithinTx(ctx, func(ctx context.Context) error {
			return f.Users.CreateUser(ctx, u)
		})
		if err == nil {
			t.Error("WithinTx: got nil error, want one")
		}
		f.wantNoUser(u)
	})
}
