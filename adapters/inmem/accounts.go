package inmem

import (
	"errors"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var (
	_ ports.Tx           = (*Store)(nil)
	_ ports.UserStore    = (*Store)(nil)
	_ ports.TokenStore   = (*Store)(nil)
	_ ports.SessionStore = (*Store)(nil)
	_ ports.RateLimiter  = (*Store)(nil)
	_ ports.Outbox       = (*Store)(nil)
)

// Store is the in-memory stand-in for the PostgreSQL storage: users, one-time
// tokens, sessions, the outbox and rate-limit counters. One *Store implements
// ports.Tx, UserStore, TokenStore, SessionStore, RateLimiter and Outbox, so
// wire binds it to all six. It is safe for concurrent use.
//
// It keeps the database's rules so that code tested against it behaves the
// same on the real one: ids are UUIDs, addresses and token and session
// hashes are unique, tokens and sessions belong to an existing user, outbox
// payloads are JSON, and times are kept in UTC to the microsecond, as
// timestamptz keeps them. Values go in and come out as copies.
//
// Transactions are all or nothing. WithinTx runs one transaction at a time;
// fn works on private copies of the tables it touches and they replace the
// shared ones when fn succeeds. Calls outside a transaction take effect at
// once and never wait for one; if such a call changes a table that a running
// transaction has touched, that transaction is run again from the start on
// commit, as PostgreSQL retries a serialization failure (the ports.Tx
// contract allows it). A WithinTx whose ctx already carries a transaction of
// this Store joins it. Because transactions run one at a time, fn must not
// start another transaction with a context that does not carry its own: that
// would wait for fn forever.
type Store struct {
	txMu sync.Mutex // held for the whole of a top-level WithinTx

	mu       sync.Mutex // guards everything below and every tx's state
	users    table[userRows]
	tokens   table[tokenRows]
	sessions table[sessionRows]
	outbox   outboxRows
	limits   rateCounters
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{
		users:    table[userRows]{rows: userRows{byID: map[string]domain.User{}, byEmail: map[domain.Email]string{}}},
		tokens:   table[tokenRows]{rows: tokenRows{byHash: map[domain.TokenHash]domain.OneTimeToken{}, ids: map[string]struct{}{}}},
		sessions: table[sessionRows]{rows: sessionRows{byID: map[string]domain.Session{}, byHash: map[domain.TokenHash]string{}}},
		outbox:   outboxRows{ids: map[string]struct{}{}},
		limits:   rateCounters{windows: map[rateKey]rateCount{}},
	}
}

// dbTime returns t as a timestamptz column gives it back: in UTC, truncated
// to the microsecond, without a monotonic clock reading.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// dbTimePtr is dbTime for nullable times; it always returns a new pointer, so
// the result never aliases the argument.
func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := dbTime(*t)
	return &v
}

// internal reports a caller's bug, one that the database would refuse with a
// constraint or type error.
func internal(op, msg string) error {
	return domain.Wrap(domain.KindInternal, op, errors.New(msg))
}

// conflict reports a write that clashes with a stored row, as a unique
// violation would.
func conflict(op, code, msg string) error {
	return &domain.Error{Kind: domain.KindConflict, Code: code, Op: op, Msg: msg}
}
