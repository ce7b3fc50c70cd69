package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// sessionByTokenHash is the statement behind every authenticated request:
// one round trip, with a placeholder so that pgx prepares it once per
// connection and then only binds the hash.
const sessionByTokenHash = `SELECT s.id, s.user_id, s.token_hash, s.created_at, s.last_seen_at, s.expires_at,
	u.email, u.password_hash, u.email_verified_at, u.created_at, u.updated_at
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1`

// CreateSession implements ports.SessionStore. A session for a user that
// does not exist, or with a token hash already in use, is KindConflict.
func (s *Store) CreateSession(ctx context.Context, sess domain.Session) error {
	const op = "postgres.Store.CreateSession"
	_, err := s.exec(ctx,
		`INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		sess.ID, sess.UserID, sess.TokenHash[:], sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt)
	return translate(op, err)
}

// SessionByTokenHash implements ports.SessionStore with one joined SELECT.
func (s *Store) SessionByTokenHash(ctx context.Context, hash domain.TokenHash) (domain.Session, domain.User, error) {
	const op = "postgres.Store.SessionByTokenHash"
	var (
		sess      domain.Session
		u         domain.User
		tokenHash []byte
		email     string
		verified  *time.Time
	)
	err := s.queryRow(ctx, sessionByTokenHash, hash[:]).Scan(
		&sess.ID, &sess.UserID, &tokenHash, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt,
		&email, &u.PasswordHash, &verified, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Session{}, domain.User{}, domain.InvalidSessionError()
	}
	if err != nil {
		return domain.Session{}, domain.User{}, translate(op, err)
	}
	if sess.TokenHash, err = domain.TokenHashFromBytes(tokenHash); err != nil {
		return domain.Session{}, domain.User{}, err
	}
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = utc(sess.CreatedAt), utc(sess.LastSeenAt), utc(sess.ExpiresAt)
	u.ID = sess.UserID
	u.Email = domain.RestoreEmail(email)
	u.EmailVerifiedAt = utcPtr(verified)
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
	return sess, u, nil
}

// TouchSession implements ports.SessionStore. Like domain.Session.Touch it
// never moves last_seen_at backwards, so a late request cannot shorten a
// session another request just extended. A session that no longer exists
// (signed out meanwhile) is not an error: there is nothing to record.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) error {
	const op = "postgres.Store.TouchSession"
	if !domain.ValidID(id) {
		return nil
	}
	_, err := s.exec(ctx,
		`UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2`, id, now)
	return translate(op, err)
}

// DeleteSession implements ports.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	const op = "postgres.Store.DeleteSession"
	if !domain.ValidID(id) {
		return nil
	}
	_, err := s.exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return translate(op, err)
}

// DeleteUserSessions implements ports.SessionStore. An except that is not a
// session id keeps nothing.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	const op = "postgres.Store.DeleteUserSessions"
	if !domain.ValidID(userID) {
		return 0, nil
	}
	var (
		n   int64
		err error
	)
	if domain.ValidID(except) {
		n, err = s.exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, except)
	} else {
		n, err = s.exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	}
	if err != nil {
		return 0, translate(op, err)
	}
	return int(n), nil
}
