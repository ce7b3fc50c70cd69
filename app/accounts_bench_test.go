package app_test

import (
	"context"
	"crypto/subtle"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/argon2id"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/ports"
)

// freeHasher costs nothing, to measure everything login does besides the
// password hash. It still refuses wrong passwords.
type freeHasher struct{}

func (freeHasher) Hash(pw string) (string, error) { return "plain$" + pw, nil }
func (freeHasher) Verify(pw, enc string) (bool, bool, error) {
	return subtle.ConstantTimeCompare([]byte("plain$"+pw), []byte(enc)) == 1, false, nil
}
func (freeHasher) DummyVerify(string) {}

// BenchmarkLogin reports what one successful login costs at the production
// argon2id parameters (m=19456 KiB, t=2, p=1), what the password check alone
// costs, and what login costs with a free hasher, so the report shows how
// much of a login is the hash (the hash_share metric).
func BenchmarkLogin(b *testing.B) {
	const email, password = "bench@example.com", "correct horse battery staple"
	prod := argon2id.New()
	encoded, err := prod.Hash(password)
	if err != nil {
		b.Fatal(err)
	}
	login := func(b *testing.B, hasher ports.PasswordHasher) float64 {
		f := newFixture(b, hasher)
		f.verifiedUser(b, email, password)
		ctx := context.Background()
		perAccount := app.DefaultRateLimits().LoginPerAccount
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			// A new client address each time keeps the per-client limit out
			// of the way; the per-account one is lifted by moving the clock.
			f.clock.Advance(2 * perAccount.Window / time.Duration(perAccount.Attempts))
			if _, err := f.accounts.Login(ctx, email, password, fmt.Sprintf("198.51.100.%d", i%250)); err != nil {
				b.Fatal(err)
			}
		}
		return float64(time.Since(start).Nanoseconds()) / float64(b.N)
	}
	var withHash, withoutHash, hashOnly float64
	b.Run("login_argon2id", func(b *testing.B) { withHash = login(b, prod) })
	b.Run("verify_only", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			if ok, _, err := prod.Verify(password, encoded); err != nil || !ok {
				b.Fatal("verify failed")
			}
		}
		hashOnly = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	})
	b.Run("login_free_hasher", func(b *testing.B) { withoutHash = login(b, freeHasher{}) })
	if withHash > 0 && hashOnly > 0 && withoutHash > 0 {
		b.Logf("login %.2f ms, of which the hash %.2f ms (%.1f%%); login without the hash %.3f ms",
			withHash/1e6, hashOnly/1e6, 100*hashOnly/withHash, withoutHash/1e6)
	}
}
