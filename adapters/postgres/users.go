package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// codeEmailTaken is the client code of ports.UserStore's address conflict.
const codeEmailTaken = "email_taken"

const userColumns = `id, email, password_hash, email_verified_at, created_at, updated_at`

// emailTaken is the KindConflict error ports.UserStore returns for an address
// that already has an account.
func emailTaken(op string, cause error) error {
	return &domain.Error{
		Kind: domain.KindConflict,
		Code: codeEmailTaken,
		Op:   op,
		Msg:  "An account with this email address already exists.",
		Err:  cause,
	}
}

// translateUser is translate that also recognises a clash on users.email.
func translateUser(op string, err error) error {
	if constraintViolated(err, "users_email_key") {
		return emailTaken(op, err)
	}
	return translate(op, err)
}

func userNotFound(op string) error { return notFound(op, "The account does not exist.") }

// CreateUser implements ports.UserStore. The insert skips a row whose address
// is taken (ON CONFLICT DO NOTHING) instead of failing on it, so a
// transaction that meets a taken address stays usable; the caller still gets
// KindConflict "email_taken".
func (s *Store) CreateUser(ctx context.Context, u domain.User) error {
	const op = "postgres.Store.CreateUser"
	n, err := s.exec(ctx,
		`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING`,
		u.ID, u.Email.String(), u.PasswordHash, u.EmailVerifiedAt, u.CreatedAt, u.UpdatedAt)
	if err != nil {
		return translateUser(op, err)
	}
	if n == 0 {
		return emailTaken(op, nil)
	}
	return nil
}

// UserByEmail implements ports.UserStore.
func (s *Store) UserByEmail(ctx context.Context, email domain.Email) (domain.User, error) {
	const op = "postgres.Store.UserByEmail"
	row := s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email.String())
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, userNotFound(op)
	}
	return u, translate(op, err)
}

// UserByID implements ports.UserStore. An id that is not a UUID names no
// user.
func (s *Store) UserByID(ctx context.Context, id string) (domain.User, error) {
	const op = "postgres.Store.UserByID"
	if !domain.ValidID(id) {
		return domain.User{}, userNotFound(op)
	}
	row := s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.User{}, userNotFound(op)
	}
	return u, translate(op, err)
}

// UpdateUser implements ports.UserStore: SELECT ... FOR UPDATE, fn, UPDATE,
// in the caller's transaction or, without one, in a transaction of its own
// (which may run fn again after a deadlock). The row keeps its id whatever
// fn does to u.ID.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*domain.User) error) error {
	const op = "postgres.Store.UpdateUser"
	if _, ok := s.tx(ctx); !ok {
		return s.WithinTx(ctx, func(ctx context.Context) error { return s.UpdateUser(ctx, id, fn) })
	}
	if !domain.ValidID(id) {
		return userNotFound(op)
	}
	conn := s.conn(ctx)
	u, err := scanUser(conn.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return userNotFound(op)
	}
	if err != nil {
		return translate(op, err)
	}
	if err := fn(&u); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx,
		`UPDATE users SET email = $2, password_hash = $3, email_verified_at = $4, updated_at = $5 WHERE id = $1`,
		id, u.Email.String(), u.PasswordHash, u.EmailVerifiedAt, u.UpdatedAt)
	return translateUser(op, err)
}

// scanUser reads the columns of userColumns, in order.
func scanUser(row rowScanner) (domain.User, error) {
	var (
		u        domain.User
		email    string
		verified *time.Time
	)
	if err := row.Scan(&u.ID, &email, &u.PasswordHash, &verified, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return domain.User{}, err
	}
	u.Email = domain.RestoreEmail(email)
	u.EmailVerifiedAt = utcPtr(verified)
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
	return u, nil
}
