package ports

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// Tx runs several port calls as one unit of work. Stores called with the ctx
// that fn receives take part in the transaction; if fn returns an error,
// nothing it did through them is kept. Implementations may retry fn on a
// serialization failure, so fn must not have effects outside the stores.
type Tx interface {
	WithinTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// UserStore keeps accounts.
type UserStore interface {
	// CreateUser stores a new user. An address that is already taken is a
	// domain.KindConflict error with code "email_taken".
	CreateUser(ctx context.Context, u domain.User) error
	// UserByEmail returns the user with that (normalised) address, or a
	// domain.KindNotFound error.
	UserByEmail(ctx context.Context, email domain.Email) (domain.User, error)
	// UserByID returns the user, or a domain.KindNotFound error.
	UserByID(ctx context.Context, id string) (domain.User, error)
	// UpdateUser loads the user, locked against concurrent updates until the
	// surrounding transaction ends, lets fn change it and stores the result.
	// A missing user is a domain.KindNotFound error; an error from fn is
	// returned as is and nothing is stored.
	UpdateUser(ctx context.Context, id string, fn func(*domain.User) error) error
}

// TokenStore keeps one-time verification and reset tokens, by hash only.
type TokenStore interface {
	// CreateToken stores a new token.
	CreateToken(ctx context.Context, t domain.OneTimeToken) error
	// ConsumeToken atomically marks the token with that hash used at now, if
	// it is for purpose, unused and unexpired, and returns it. Of any number
	// of concurrent calls with one token, at most one succeeds. Every other
	// outcome (unknown, used, expired, other purpose) is the same
	// domain.KindInvalid error with code "invalid_token".
	ConsumeToken(ctx context.Context, hash domain.TokenHash, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error)
	// RevokeTokens marks every unused token of the user for purpose as used,
	// so that issuing a new one voids the older ones.
	RevokeTokens(ctx context.Context, userID string, purpose domain.TokenPurpose, now time.Time) error
}

// SessionStore keeps signed-in sessions, by token hash only.
type SessionStore interface {
	// CreateSession stores a new session.
	CreateSession(ctx context.Context, s domain.Session) error
	// SessionByTokenHash returns the session with that token hash together
	// with its user, in one round trip (this is on every authenticated
	// request). An unknown hash is a domain.KindUnauthenticated error with
	// code "invalid_session". It does not check lifetimes: the caller does,
	// with domain.Session.Check.
	SessionByTokenHash(ctx context.Context, hash domain.TokenHash) (domain.Session, domain.User, error)
	// TouchSession records that the session was used at now.
	TouchSession(ctx context.Context, id string, now time.Time) error
	// DeleteSession removes one session; removing a missing one is not an
	// error.
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions removes every session of the user except the one
	// with id except (pass "" to remove all) and returns how many it removed.
	DeleteUserSessions(ctx context.Context, userID, except string) (int, error)
}

// RateLimiter counts attempts in fixed windows shared by every replica.
type RateLimiter interface {
	// Allow records one attempt under key at now and reports whether it is
	// within limit attempts per window. When it is not, retryAfter says when
	// the window ends. Attempts beyond the limit are counted too.
	Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (ok bool, retryAfter time.Duration, err error)
}

// Outbox accepts mail and events for later delivery.
type Outbox interface {
	// Enqueue stores the messages, inside the caller's transaction when ctx
	// carries one, so they exist if and only if the change that caused them
	// is committed.
	Enqueue(ctx context.Context, msgs ...domain.OutboxMessage) error
}
