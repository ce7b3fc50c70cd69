package inmem

import (
	"context"
	"maps"

	"github.com/gatehouse/gatehouse/domain"
)

// codeEmailTaken is the client code the ports.UserStore contract gives an
// address that already has an account.
const codeEmailTaken = "email_taken"

// userRows is the users table, with its unique index on the address.
type userRows struct {
	byID    map[string]domain.User
	byEmail map[domain.Email]string
}

func (r userRows) clone() userRows {
	return userRows{byID: maps.Clone(r.byID), byEmail: maps.Clone(r.byEmail)}
}

// userRow returns u as stored and read back: times normalised, nothing
// shared with u.
func userRow(u domain.User) domain.User {
	u.EmailVerifiedAt = dbTimePtr(u.EmailVerifiedAt)
	u.CreatedAt = dbTime(u.CreatedAt)
	u.UpdatedAt = dbTime(u.UpdatedAt)
	return u
}

func userNotFound(op string) error {
	return &domain.Error{Kind: domain.KindNotFound, Op: op, Msg: "The user does not exist."}
}

func emailTaken(op string) error {
	return conflict(op, codeEmailTaken, "An account with this email address already exists.")
}

// CreateUser stores a new user. A taken address is a domain.KindConflict
// error with code "email_taken"; a taken id is a domain.KindConflict error
// too. An id that is not a UUID or an empty address is a domain.KindInternal
// error (a bug in the caller).
func (s *Store) CreateUser(ctx context.Context, u domain.User) error {
	const op = "inmem.Store.CreateUser"
	switch {
	case !domain.ValidID(u.ID):
		return internal(op, "user id is not a UUID")
	case u.Email.IsZero():
		return internal(op, "user has no email address")
	}
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	rows, write := s.userRows(t)
	if _, taken := rows.byEmail[u.Email]; taken {
		return emailTaken(op)
	}
	if _, taken := rows.byID[u.ID]; taken {
		return conflict(op, "", "A user with this id already exists.")
	}
	write()
	rows.byID[u.ID] = userRow(u)
	rows.byEmail[u.Email] = u.ID
	return nil
}

// UserByEmail returns the user with that address, or a domain.KindNotFound
// error.
func (s *Store) UserByEmail(ctx context.Context, email domain.Email) (domain.User, error) {
	const op = "inmem.Store.UserByEmail"
	t, err := s.enter(ctx, op)
	if err != nil {
		return domain.User{}, err
	}
	defer s.mu.Unlock()
	rows, _ := s.userRows(t)
	id, ok := rows.byEmail[email]
	if !ok {
		return domain.User{}, userNotFound(op)
	}
	return userRow(rows.byID[id]), nil
}

// UserByID returns the user, or a domain.KindNotFound error (also for an id
// that is not a UUID, which names no user).
func (s *Store) UserByID(ctx context.Context, id string) (domain.User, error) {
	const op = "inmem.Store.UserByID"
	t, err := s.enter(ctx, op)
	if err != nil {
		return domain.User{}, err
	}
	defer s.mu.Unlock()
	rows, _ := s.userRows(t)
	u, ok := rows.byID[id]
	if !ok {
		return domain.User{}, userNotFound(op)
	}
	return userRow(u), nil
}

// UpdateUser lets fn change a copy of the user and stores the result. A
// missing user is a domain.KindNotFound error and fn is not called; fn's
// error is returned as is and nothing is stored. Outside a transaction the
// update runs in one of its own, so concurrent updates of one user never
// lose each other's changes. A change of address to one that is taken is a
// domain.KindConflict error with code "email_taken"; fn changing the id is a
// domain.KindInternal error.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*domain.User) error) error {
	const op = "inmem.Store.UpdateUser"
	if s.txFrom(ctx) == nil {
		return s.WithinTx(ctx, func(ctx context.Context) error { return s.UpdateUser(ctx, id, fn) })
	}
	u, err := s.UserByID(ctx, id)
	if err != nil {
		if domain.IsKind(err, domain.KindNotFound) {
			return userNotFound(op)
		}
		return err
	}
	old := u.Email
	// fn runs without the lock: it is the caller's code and may be slow.
	if err := fn(&u); err != nil {
		return err
	}
	if u.ID != id {
		return internal(op, "fn changed the user's id")
	}
	if u.Email.IsZero() {
		return internal(op, "fn removed the user's email address")
	}
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	rows, write := s.userRows(t)
	if u.Email != old {
		if _, taken := rows.byEmail[u.Email]; taken {
			return emailTaken(op)
		}
	}
	write()
	delete(rows.byEmail, old)
	rows.byEmail[u.Email] = id
	rows.byID[id] = userRow(u)
	return nil
}
