package inmem

import (
	"context"
	"maps"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// sessionRows is the sessions table, with its unique index on the token
// hash.
type sessionRows struct {
	byID   map[string]domain.Session
	byHash map[domain.TokenHash]string
}

func (r sessionRows) clone() sessionRows {
	return sessionRows{byID: maps.Clone(r.byID), byHash: maps.Clone(r.byHash)}
}

// sessionRow returns sess as stored and read back, times normalised.
func sessionRow(sess domain.Session) domain.Session {
	sess.CreatedAt = dbTime(sess.CreatedAt)
	sess.LastSeenAt = dbTime(sess.LastSeenAt)
	sess.ExpiresAt = dbTime(sess.ExpiresAt)
	return sess
}

// CreateSession stores a new session. Its user must exist
// (domain.KindNotFound otherwise); a taken id or token hash is a
// domain.KindConflict error. An id that is not a UUID or a zero hash is a
// domain.KindInternal error (a bug in the caller).
func (s *Store) CreateSession(ctx context.Context, sess domain.Session) error {
	const op = "inmem.Store.CreateSession"
	switch {
	case !domain.ValidID(sess.ID):
		return internal(op, "session id is not a UUID")
	case sess.TokenHash.IsZero():
		return internal(op, "session has no token hash")
	}
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	users, _ := s.userRows(t)
	if _, ok := users.byID[sess.UserID]; !ok {
		return userNotFound(op)
	}
	rows, write := s.sessionRows(t)
	if _, taken := rows.byID[sess.ID]; taken {
		return conflict(op, "", "A session with this id already exists.")
	}
	if _, taken := rows.byHash[sess.TokenHash]; taken {
		return conflict(op, "", "A session with this token hash already exists.")
	}
	write()
	rows.byID[sess.ID] = sessionRow(sess)
	rows.byHash[sess.TokenHash] = sess.ID
	return nil
}

// SessionByTokenHash returns the session with that token hash and its user.
// An unknown hash is a domain.KindUnauthenticated error with code
// "invalid_session". Lifetimes are not checked.
func (s *Store) SessionByTokenHash(ctx context.Context, hash domain.TokenHash) (domain.Session, domain.User, error) {
	const op = "inmem.Store.SessionByTokenHash"
	t, err := s.enter(ctx, op)
	if err != nil {
		return domain.Session{}, domain.User{}, err
	}
	defer s.mu.Unlock()
	rows, _ := s.sessionRows(t)
	id, ok := rows.byHash[hash]
	if !ok {
		return domain.Session{}, domain.User{}, domain.InvalidSessionError()
	}
	sess := rows.byID[id]
	users, _ := s.userRows(t)
	u, ok := users.byID[sess.UserID]
	if !ok {
		return domain.Session{}, domain.User{}, internal(op, "session of a missing user")
	}
	return sessionRow(sess), userRow(u), nil
}

// TouchSession records that the session was used at now. It never moves
// LastSeenAt backwards (as domain.Session.Touch), and touching a missing
// session does nothing.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) error {
	const op = "inmem.Store.TouchSession"
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	rows, write := s.sessionRows(t)
	sess, ok := rows.byID[id]
	if !ok {
		return nil
	}
	write()
	sess.Touch(dbTime(now))
	rows.byID[id] = sessionRow(sess)
	return nil
}

// DeleteSession removes one session; removing a missing one is not an
// error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	const op = "inmem.Store.DeleteSession"
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	rows, write := s.sessionRows(t)
	if sess, ok := rows.byID[id]; ok {
		write()
		delete(rows.byID, id)
		delete(rows.byHash, sess.TokenHash)
	}
	return nil
}

// DeleteUserSessions removes every session of the user except the one with
// id except ("" removes all) and returns how many it removed.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, except string) (int, error) {
	const op = "inmem.Store.DeleteUserSessions"
	t, err := s.enter(ctx, op)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	rows, write := s.sessionRows(t)
	n := 0
	for id, sess := range rows.byID {
		if sess.UserID != userID || id == except {
			continue
		}
		write()
		delete(rows.byID, id)
		delete(rows.byHash, sess.TokenHash)
		n++
	}
	return n, nil
}
