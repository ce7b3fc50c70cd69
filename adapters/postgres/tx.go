package postgres

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
)

// maxTxAttempts is how many times WithinTx runs fn when PostgreSQL aborts the
// transaction with a serialization failure or a deadlock. Either means
// another transaction won a race; running again usually succeeds at once.
const maxTxAttempts = 3

// retryBackoff scales the random pause before a retry.
const retryBackoff = 5 * time.Millisecond

// txKey is the context key of a transaction, per database, so that a
// transaction of one pool is never used by a store over another.
type txKey struct{ db *bun.DB }

// tx returns the transaction (or savepoint) ctx carries for s's database.
func (s *Store) tx(ctx context.Context) (bun.Tx, bool) {
	tx, ok := ctx.Value(txKey{s.db}).(bun.Tx)
	return tx, ok
}

func (s *Store) withTx(ctx context.Context, tx bun.Tx) context.Context {
	return context.WithValue(ctx, txKey{s.db}, tx)
}

// WithinTx implements ports.Tx. It runs fn in a transaction at READ
// COMMITTED, carried in the context fn receives, and commits when fn returns
// nil. Row locks (UpdateUser) and the single-statement guarantees of
// ConsumeToken and Allow make the stronger levels unnecessary.
//
// A call inside another one joins its transaction through a savepoint: when
// the inner fn fails, what it did is rolled back and the outer transaction
// stays usable, so the contract "nothing fn did is kept" holds at every
// level; when it succeeds, its work commits or rolls back with the outer one.
//
// The outermost call runs fn again, up to three times in all and after a
// short random pause, when PostgreSQL aborts the transaction with a
// serialization failure or a deadlock; fn must therefore have no effects
// outside the stores. Errors fn
// returns come back unchanged; failures to begin or commit are translated
// (an unreachable database is KindUnavailable).
func (s *Store) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if outer, ok := s.tx(ctx); ok {
		return s.nested(ctx, outer, fn)
	}
	for attempt := 1; ; attempt++ {
		err := s.runTx(ctx, fn)
		if err == nil || attempt == maxTxAttempts || !retryable(err) || !backOff(ctx, attempt) {
			return err
		}
	}
}

// backOff waits a random moment of up to attempt × retryBackoff before a
// retry, so that the transaction that won the race finishes first instead of
// meeting the loser again, and reports whether ctx still allows a retry.
func backOff(ctx context.Context, attempt int) bool {
	timer := time.NewTimer(rand.N(time.Duration(attempt) * retryBackoff))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func (s *Store) runTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	const op = "postgres.Store.WithinTx"
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return translate(op, err)
	}
	committed := false
	defer func() {
		// Also on a panic in fn: the connection must go back to the pool
		// clean, not with a transaction left open.
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(s.withTx(ctx, tx)); err != nil {
		return err
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return translate(op, err)
	}
	return nil
}

func (s *Store) nested(ctx context.Context, outer bun.Tx, fn func(ctx context.Context) error) (err error) {
	const op = "postgres.Store.WithinTx"
	sp, err := outer.BeginTx(ctx, nil) // SAVEPOINT
	if err != nil {
		return translate(op, err)
	}
	released := false
	defer func() {
		if !released {
			_ = sp.Rollback() // ROLLBACK TO SAVEPOINT
		}
	}()
	if err := fn(s.withTx(ctx, sp)); err != nil {
		return err
	}
	released = true
	if err := sp.Commit(); err != nil { // RELEASE SAVEPOINT
		return translate(op, err)
	}
	return nil
}

// retryable reports whether err (anywhere in its chain) is PostgreSQL
// aborting a transaction that would succeed if run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected
}
