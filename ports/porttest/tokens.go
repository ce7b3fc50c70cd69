package porttest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
)

// wantUsable consumes tok at accountsT0 + 1 minute and fails the test unless that
// succeeds exactly when usable is true.
func (f accountFixture) wantUsable(tok domain.OneTimeToken, usable bool) {
	f.t.Helper()
	_, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, tok.Purpose, accountsT0.Add(time.Minute))
	switch {
	case usable && err != nil:
		f.t.Errorf("ConsumeToken of a %s token: got error %v, want nil", tok.Purpose, err)
	case !usable:
		wantAccountErr(f.t, "ConsumeToken of a "+string(tok.Purpose)+" token", err, domain.KindInvalid, domain.CodeInvalidToken)
	}
}

func runTokenStore(t *testing.T, newStores func(t *testing.T) AccountStores) {
	t.Helper()

	t.Run("ConsumeToken spends a token once and returns it marked used at now", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		tok := f.token(u.ID, domain.PurposeVerifyEmail)
		now := accountsT0.Add(time.Hour)
		got, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, domain.PurposeVerifyEmail, now)
		if err != nil {
			t.Fatalf("first ConsumeToken: got error %v, want nil", err)
		}
		want := tok
		want.UsedAt = &now
		if d := cmp.Diff(got, want, accountOpts); d != "" {
			t.Errorf("consumed token differs (-got +want):\n%s", d)
		}
		_, err = f.Tokens.ConsumeToken(f.ctx, tok.Hash, domain.PurposeVerifyEmail, now.Add(time.Second))
		wantAccountErr(t, "second ConsumeToken", err, domain.KindInvalid, domain.CodeInvalidToken)
	})

	t.Run("ConsumeToken accepts a token until the instant it expires", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		tok := f.token(u.ID, domain.PurposePasswordReset)
		if _, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, tok.Purpose, tok.ExpiresAt.Add(-time.Microsecond)); err != nil {
			t.Errorf("ConsumeToken a microsecond before expiry: got error %v, want nil", err)
		}
	})

	for _, tc := range []struct {
		name string
		// allowAttempt consumes (or tries to) tok in a way that must fail.
		allowAttempt func(f accountFixture, tok domain.OneTimeToken) error
		// usableAfter says whether tok can still be spent afterwards: a
		// refused allowAttempt must not use it up.
		usableAfter bool
	}{
		{"ConsumeToken refuses an unknown token with invalid_token", func(f accountFixture, tok domain.OneTimeToken) error {
			_, hash, err := domain.NewSecretToken(rand.Reader)
			if err != nil {
				f.t.Fatalf("NewSecretToken: %v", err)
			}
			_, err = f.Tokens.ConsumeToken(f.ctx, hash, tok.Purpose, accountsT0)
			return err
		}, true},
		{"ConsumeToken refuses a used token with invalid_token", func(f accountFixture, tok domain.OneTimeToken) error {
			if _, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, tok.Purpose, accountsT0); err != nil {
				f.t.Fatalf("first ConsumeToken: got error %v, want nil", err)
			}
			_, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, tok.Purpose, accountsT0)
			return err
		}, false},
		{"ConsumeToken refuses a token at its expiry with invalid_token", func(f accountFixture, tok domain.OneTimeToken) error {
			_, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, tok.Purpose, tok.ExpiresAt)
			return err
		}, true},
		{"ConsumeToken refuses a long expired token with invalid_token", func(f accountFixture, tok domain.OneTimeToken) error {
			_, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, tok.Purpose, tok.ExpiresAt.Add(30*24*time.Hour))
			return err
		}, true},
		{"ConsumeToken refuses a token for another purpose with invalid_token", func(f accountFixture, tok domain.OneTimeToken) error {
			_, err := f.Tokens.ConsumeToken(f.ctx, tok.Hash, domain.PurposePasswordReset, accountsT0)
			return err
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			u := f.user()
			tok := f.token(u.ID, domain.PurposeVerifyEmail)
			err := tc.allowAttempt(f, tok)
			wantAccountErr(t, "ConsumeToken", err, domain.KindInvalid, domain.CodeInvalidToken)
			f.wantUsable(tok, tc.usableAfter)
		})
	}

	for _, tc := range []struct {
		name  string
		ownTx bool
	}{
		{"ConsumeToken has one winner among 20 concurrent callers", false},
		{"ConsumeToken has one winner among 20 concurrent transactions", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			u := f.user()
			tok := f.token(u.ID, domain.PurposeVerifyEmail)
			const n = 20
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					consume := func(ctx context.Context) error {
						_, err := f.Tokens.ConsumeToken(ctx, tok.Hash, tok.Purpose, accountsT0.Add(time.Minute))
						return err
					}
					if tc.ownTx {
						errs[i] = f.Tx.WithinTx(f.ctx, consume)
					} else {
						errs[i] = consume(f.ctx)
					}
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for i, err := range errs {
				if err == nil {
					wins++
					continue
				}
				wantAccountErr(t, fmt.Sprintf("ConsumeToken #%d", i), err, domain.KindInvalid, domain.CodeInvalidToken)
			}
			if wins != 1 {
				t.Errorf("successful ConsumeToken calls: got %d, want 1", wins)
			}
		})
	}

	t.Run("RevokeTokens voids older tokens of that purpose and user only", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u, other := f.user(), f.user()
		older := []domain.OneTimeToken{f.token(u.ID, domain.PurposeVerifyEmail), f.token(u.ID, domain.PurposeVerifyEmail)}
		reset := f.token(u.ID, domain.PurposePasswordReset)
		othersToken := f.token(other.ID, domain.PurposeVerifyEmail)
		if err := f.Tokens.RevokeTokens(f.ctx, u.ID, domain.PurposeVerifyEmail, accountsT0.Add(time.Second)); err != nil {
			t.Fatalf("RevokeTokens: got error %v, want nil", err)
		}
		// The token issued after the revocation is the one that works.
		newer := f.token(u.ID, domain.PurposeVerifyEmail)
		for _, tok := range older {
			f.wantUsable(tok, false)
		}
		f.wantUsable(reset, true)
		f.wantUsable(othersToken, true)
		f.wantUsable(newer, true)
	})

	t.Run("RevokeTokens of a user without tokens is not an error", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		u := f.user()
		if err := f.Tokens.RevokeTokens(f.ctx, u.ID, domain.PurposePasswordReset, accountsT0); err != nil {
			t.Errorf("RevokeTokens: got error %v, want nil", err)
		}
	})
}
