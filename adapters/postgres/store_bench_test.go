package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/domain"
)

// benchSessions is more than pgx's per-connection statement cache holds
// (512), as in production, where every signed-in client has its own token.
const benchSessions = 2000

// BenchmarkSessionByTokenHash compares the Store's lookup (a $1 placeholder
// that pgx prepares once per connection) with the same SELECT through bun's
// QueryRowContext, which writes the hash into the SQL text so that every
// token is a new statement for the server to parse and plan.
func BenchmarkSessionByTokenHash(b *testing.B) {
	ctx := context.Background()
	db := openAppDB(b)
	s := postgres.NewStore(db)
	u := createUser(b, s)
	hashes := make([]domain.TokenHash, benchSessions)
	err := s.WithinTx(ctx, func(ctx context.Context) error {
		for i := range hashes {
			hashes[i] = createSession(b, s, u.ID).TokenHash
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	bunQuery := `SELECT s.id, s.user_id, s.token_hash, s.created_at, s.last_seen_at, s.expires_at,
	u.email, u.password_hash, u.email_verified_at, u.created_at, u.updated_at
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = ?`
	viaBun := func(h domain.TokenHash) error {
		var (
			sess     domain.Session
			usr      domain.User
			hash     []byte
			email    string
			verified sql.NullTime
		)
		return db.QueryRowContext(ctx, bunQuery, h[:]).Scan(
			&sess.ID, &sess.UserID, &hash, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt,
			&email, &usr.PasswordHash, &verified, &usr.CreatedAt, &usr.UpdatedAt)
	}
	viaStore := func(h domain.TokenHash) error {
		_, _, err := s.SessionByTokenHash(ctx, h)
		return err
	}

	for _, bc := range []struct {
		name   string
		lookup func(domain.TokenHash) error
	}{
		{"placeholders", viaStore},
		{"bun-formatted", viaBun},
	} {
		b.Run(bc.name+"/serial", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if err := bc.lookup(hashes[i%len(hashes)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if err := bc.lookup(hashes[i%len(hashes)]); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		})
	}
}
