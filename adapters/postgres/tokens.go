package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

const tokenColumns = `id, user_id, purpose, token_hash, expires_at, used_at, created_at`

// CreateToken implements ports.TokenStore. A token for a user that does not
// exist is KindConflict (the foreign key).
func (s *Store) CreateToken(ctx context.Context, t domain.OneTimeToken) error {
	const op = "postgres.Store.CreateToken"
	_, err := s.exec(ctx,
		`INSERT INTO one_time_tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.UserID, string(t.Purpose), t.Hash[:], t.ExpiresAt, t.UsedAt, t.CreatedAt)
	return translate(op, err)
}

// ConsumeToken implements ports.TokenStore with a single conditional UPDATE.
// Concurrent callers queue on the row lock, and each re-checks "used_at IS
// NULL" once the one before it commits, so exactly one of them gets the row
// back; if the winner's transaction rolls back, the next in line wins.
func (s *Store) ConsumeToken(ctx context.Context, hash domain.TokenHash, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	const op = "postgres.Store.ConsumeToken"
	if !purpose.Valid() {
		return domain.OneTimeToken{}, domain.InvalidTokenError()
	}
	row := s.queryRow(ctx,
		`UPDATE one_time_tokens SET used_at = $3
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING `+tokenColumns,
		hash[:], string(purpose), now)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.OneTimeToken{}, domain.InvalidTokenError()
	}
	if err != nil {
		return domain.OneTimeToken{}, translate(op, err)
	}
	return t, nil
}

// RevokeTokens implements ports.TokenStore.
func (s *Store) RevokeTokens(ctx context.Context, userID string, purpose domain.TokenPurpose, now time.Time) error {
	const op = "postgres.Store.RevokeTokens"
	if !domain.ValidID(userID) {
		return nil // no such user, so no tokens
	}
	_, err := s.exec(ctx,
		`UPDATE one_time_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`,
		userID, string(purpose), now)
	return translate(op, err)
}

// scanToken reads the columns of tokenColumns, in order.
func scanToken(row rowScanner) (domain.OneTimeToken, error) {
	var (
		t       domain.OneTimeToken
		purpose string
		hash    []byte
		used    *time.Time
	)
	if err := row.Scan(&t.ID, &t.UserID, &purpose, &hash, &t.ExpiresAt, &used, &t.CreatedAt); err != nil {
		return domain.OneTimeToken{}, err
	}
	h, err := domain.TokenHashFromBytes(hash)
	if err != nil {
		return domain.OneTimeToken{}, err
	}
	t.Purpose, t.Hash, t.UsedAt = domain.TokenPurpose(purpose), h, utcPtr(used)
	t.ExpiresAt, t.CreatedAt = utc(t.ExpiresAt), utc(t.CreatedAt)
	return t, nil
}
