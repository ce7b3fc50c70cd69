package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

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
	var r sessionRow
	err := s.queryRow(ctx, sessionByTokenHash, hash[:]).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Session{}, domain.User{}, domain.InvalidSessionError()
	}
	if err != nil {
		return domain.Session{}, domain.User{}, translate(op, err)
	}
	sess, u, err := r.values()
	if err != nil {
		return domain.Session{}, domain.User{}, translate(op, err)
	}
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

// uploadForSessionSQL is sessionByTokenHash with the user's upload $2
// left-joined: one row whenever the session exists, whatever the upload.
// upload_found tells whether the user has that upload (and it is not
// deleted); when not, the upload's columns are NULL, and those NOT NULL in
// the table are read as zero values instead so that the row scans into
// scanUpload's destinations either way. The upload's columns are
// uploadColumns, in their order (TestUploadForSessionColumns).
const uploadForSessionSQL = `SELECT s.id, s.user_id, s.token_hash, s.created_at, s.last_seen_at, s.expires_at,
	u.email, u.password_hash, u.email_verified_at, u.created_at, u.updated_at,
	up.id IS NOT NULL AS upload_found,
	COALESCE(up.id, '00000000-0000-0000-0000-000000000000'), COALESCE(up.owner_id, '00000000-0000-0000-0000-000000000000'),
	COALESCE(up.bucket, ''), COALESCE(up.key, ''), COALESCE(up.created_at, 'epoch'),
	COALESCE(up.filename, ''), COALESCE(up.content_type, ''), COALESCE(up.size_bytes, 0), up.sha256, COALESCE(up.status, ''),
	up.version_id, up.etag, up.completed_at, up.verdict,
	up.scan_result, up.scan_code, up.scan_reason, up.scan_threats, up.scan_completed_at,
	COALESCE(up.updated_at, 'epoch')
FROM sessions s JOIN users u ON u.id = s.user_id
LEFT JOIN uploads up ON up.id = $2 AND up.owner_id = s.user_id AND up.status <> 'deleted'
WHERE s.token_hash = $1`

// UploadForSession implements ports.UploadStore with one joined SELECT. An
// id that is not a UUID names no upload: the session is read alone.
func (s *Store) UploadForSession(ctx context.Context, hash domain.TokenHash, id string) (domain.Session, domain.User, *domain.Upload, error) {
	const op = "postgres.Store.UploadForSession"
	if !domain.ValidID(id) {
		sess, u, err := s.SessionByTokenHash(ctx, hash)
		return sess, u, nil, err
	}
	var (
		sr    sessionRow
		found bool
	)
	up, err := scanUpload(prefixedRow{row: s.queryRow(ctx, uploadForSessionSQL, hash[:], id), dest: append(sr.dest(), &found)})
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Session{}, domain.User{}, nil, domain.InvalidSessionError()
	}
	if err != nil {
		return domain.Session{}, domain.User{}, nil, translate(op, err)
	}
	sess, u, err := sr.values()
	if err != nil {
		return domain.Session{}, domain.User{}, nil, translate(op, err)
	}
	if !found {
		return sess, u, nil, nil
	}
	return sess, u, &up, nil
}

// sessionRow holds the scan destinations of a session joined with its
// user, in sessionByTokenHash's column order.
type sessionRow struct {
	id, userID                         pgtype.UUID
	tokenHash                          []byte
	created, lastSeen, expires         pgtype.Timestamptz
	email, passwordHash                string
	verified, userCreated, userUpdated pgtype.Timestamptz
}

func (r *sessionRow) dest() []any {
	return []any{&r.id, &r.userID, &r.tokenHash, &r.created, &r.lastSeen, &r.expires,
		&r.email, &r.passwordHash, &r.verified, &r.userCreated, &r.userUpdated}
}

// values returns the session and user scanned, times in UTC.
func (r *sessionRow) values() (sess domain.Session, u domain.User, err error) {
	if sess.ID, err = idOf(r.id); err != nil {
		return
	}
	if sess.UserID, err = idOf(r.userID); err != nil {
		return
	}
	if sess.TokenHash, err = domain.TokenHashFromBytes(r.tokenHash); err != nil {
		return
	}
	if sess.CreatedAt, err = timeOf(r.created); err != nil {
		return
	}
	if sess.LastSeenAt, err = timeOf(r.lastSeen); err != nil {
		return
	}
	if sess.ExpiresAt, err = timeOf(r.expires); err != nil {
		return
	}
	u.ID, u.Email, u.PasswordHash = sess.UserID, domain.RestoreEmail(r.email), r.passwordHash
	if u.EmailVerifiedAt, err = timePtrOf(r.verified); err != nil {
		return
	}
	if u.CreatedAt, err = timeOf(r.userCreated); err != nil {
		return
	}
	u.UpdatedAt, err = timeOf(r.userUpdated)
	return
}

// prefixedRow is a row whose first columns go to dest and the rest to
// whatever Scan is given.
type prefixedRow struct {
	row  rowScanner
	dest []any
}

func (p prefixedRow) Scan(dest ...any) error { return p.row.Scan(append(p.dest, dest...)...) }
