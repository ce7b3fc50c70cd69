package inmem

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/domain"
)

// maxTxAttempts bounds how often WithinTx runs fn when writes made outside
// the transaction keep invalidating what it read.
const maxTxAttempts = 10

var (
	errTxDone        = errors.New("the transaction has already ended")
	errSerialization = errors.New("could not serialize the transaction after repeated conflicts")
)

// txKey is the context key of a transaction; it names its Store, so two
// Stores' transactions in one context do not shadow each other.
type txKey struct{ s *Store }

// tx is one run of a transaction's fn: private copies of the tables it has
// touched and the outbox messages it enqueued. It is guarded by Store.mu.
type tx struct {
	done     bool
	users    txRows[userRows]
	tokens   txRows[tokenRows]
	sessions txRows[sessionRows]
	outbox   []domain.OutboxMessage
}

// rowSet is a table's rows: a few maps kept in step, copied as a whole.
type rowSet[R any] interface{ clone() R }

// table is the committed state of one table. version counts its changes, so
// a transaction can tell whether the rows it copied are still current.
type table[R any] struct {
	rows    R
	version uint64
}

// txRows is a transaction's copy of one table, taken when fn first touches
// it.
type txRows[R any] struct {
	rows    R
	base    uint64 // the table's version when copied
	touched bool
	written bool
}

// rowsFor returns the rows a call sees, and a function to call before it
// changes them. Outside a transaction (l == nil) those are the committed
// rows; inside one, the transaction's copy, made on first use. The caller
// holds Store.mu.
func rowsFor[R rowSet[R]](c *table[R], l *txRows[R]) (rows R, write func()) {
	if l == nil {
		return c.rows, func() { c.version++ }
	}
	if !l.touched {
		l.rows, l.base, l.touched = c.rows.clone(), c.version, true
	}
	return l.rows, func() { l.written = true }
}

// stale reports whether the table changed since the transaction copied it.
func stale[R any](c *table[R], l *txRows[R]) bool {
	return l.touched && l.base != c.version
}

// apply makes the transaction's copy the committed table if it wrote to it.
func apply[R any](c *table[R], l *txRows[R]) {
	if l.written {
		c.rows = l.rows
		c.version++
	}
}

func (s *Store) userRows(t *tx) (userRows, func()) {
	if t == nil {
		return rowsFor(&s.users, nil)
	}
	return rowsFor(&s.users, &t.users)
}

func (s *Store) tokenRows(t *tx) (tokenRows, func()) {
	if t == nil {
		return rowsFor(&s.tokens, nil)
	}
	return rowsFor(&s.tokens, &t.tokens)
}

func (s *Store) sessionRows(t *tx) (sessionRows, func()) {
	if t == nil {
		return rowsFor(&s.sessions, nil)
	}
	return rowsFor(&s.sessions, &t.sessions)
}

// txFrom returns this Store's transaction carried by ctx, or nil.
func (s *Store) txFrom(ctx context.Context) *tx {
	t, _ := ctx.Value(txKey{s}).(*tx)
	return t
}

// enter starts one store call: it fails like a database call would when ctx
// is done or carries a transaction that has ended, and otherwise locks
// Store.mu, which the caller must unlock, and returns the transaction ctx
// carries (nil outside one).
func (s *Store) enter(ctx context.Context, op string) (*tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err)
	}
	t := s.txFrom(ctx)
	s.mu.Lock()
	if t != nil && t.done {
		s.mu.Unlock()
		return nil, domain.Wrap(domain.KindInternal, op, errTxDone)
	}
	return t, nil
}

// WithinTx runs fn as one transaction: what fn does through this Store with
// the ctx it receives is kept only if fn returns nil, and is then visible
// to everyone at once. fn's error is returned as is. When ctx already
// carries a transaction of this Store, fn joins it and WithinTx adds no
// transaction boundary of its own. fn runs again, at most a few times, when
// writes made outside the transaction changed what it had read; if that
// keeps happening the error is domain.KindUnavailable. A done ctx is a
// domain.KindUnavailable error and keeps nothing.
func (s *Store) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	const op = "inmem.Store.WithinTx"
	if t := s.txFrom(ctx); t != nil {
		s.mu.Lock()
		done := t.done
		s.mu.Unlock()
		if done {
			return domain.Wrap(domain.KindInternal, op, errTxDone)
		}
		return fn(ctx)
	}
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	s.txMu.Lock()
	defer s.txMu.Unlock()
	for range maxTxAttempts {
		committed, err := s.runTx(ctx, op, fn)
		if err != nil || committed {
			return err
		}
	}
	return domain.Wrap(domain.KindUnavailable, op, errSerialization)
}

// runTx runs fn once in a new transaction and commits it if fn succeeds. It
// reports false with a nil error when the commit found the transaction
// stale and fn must run again.
func (s *Store) runTx(ctx context.Context, op string, fn func(ctx context.Context) error) (committed bool, err error) {
	t := &tx{}
	defer func() {
		if !committed {
			s.mu.Lock()
			t.done = true
			s.mu.Unlock()
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{s}, t)); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, domain.Wrap(domain.KindUnavailable, op, err)
	}
	return s.commit(op, t)
}

// commit applies t if nothing it touched changed since it looked.
func (s *Store) commit(op string, t *tx) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stale(&s.users, &t.users) || stale(&s.tokens, &t.tokens) || stale(&s.sessions, &t.sessions) {
		return false, nil
	}
	// Enqueue checked the ids against the committed outbox, but a call
	// outside the transaction may have used one since.
	for _, m := range t.outbox {
		if _, dup := s.outbox.ids[m.ID]; dup {
			return false, conflict(op, "", "An outbox message with this id already exists.")
		}
	}
	apply(&s.users, &t.users)
	apply(&s.tokens, &t.tokens)
	apply(&s.sessions, &t.sessions)
	s.outbox.add(t.outbox...)
	t.done = true
	return true, nil
}
