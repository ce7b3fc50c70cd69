package postgres

import (
	"context"
	"time"
)

// deadTokenRetention is how long a one-time token is kept after it was used
// or expired, for support questions ("my link did not work").
const deadTokenRetention = 24 * time.Hour

// defaultExpiredBatch is how many rows one statement of PurgeExpired
// deletes: short transactions that hold few locks, however large the
// backlog.
const defaultExpiredBatch = 1000

// The statements of PurgeExpired: each deletes up to $2 rows, found through
// the index named in its comment.
const (
	// sessions_expires_at_idx
	purgeSessionsSQL = `DELETE FROM sessions WHERE id IN (
	SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
	// one_time_tokens_dead_at_idx: the expression is the index's. LEAST
	// skips a NULL used_at, so a token is dead from the earlier of its use
	// and its expiry.
	purgeTokensSQL = `DELETE FROM one_time_tokens WHERE id IN (
	SELECT id FROM one_time_tokens WHERE LEAST(used_at, expires_at) < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`
)

// Purged counts the rows PurgeExpired deleted.
type Purged struct {
	Sessions int64 // past their absolute expiry
	Tokens   int64 // used or expired more than a day before
}

// PurgeExpired deletes the sessions whose absolute expiry is at or before
// now and the one-time tokens that were used or expired more than a day
// before now, and reports how many rows went. It is housekeeping for a
// periodic job (like PurgeRateLimits): nothing depends on it for
// correctness, since lookups check lifetimes themselves. Sessions that are
// only idle stay until their absolute expiry: the idle timeout is the
// service's policy, not a column.
//
// It deletes in batches, each a statement of its own on the pool (never in
// the caller's transaction), through the indexes sessions_expires_at_idx and
// one_time_tokens_dead_at_idx, and skips rows other transactions have
// locked, so it never waits for a sign-in or a verification, and any number
// of workers can run it at once. It stops at the first error, returning
// what it deleted until then.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (Purged, error) {
	const op = "postgres.Store.PurgeExpired"
	var p Purged
	for _, step := range []struct {
		stmt   string
		cutoff time.Time
		count  *int64
	}{
		{purgeSessionsSQL, now, &p.Sessions},
		{purgeTokensSQL, now.Add(-deadTokenRetention), &p.Tokens},
	} {
		for {
			res, err := s.db.DB.ExecContext(ctx, step.stmt, step.cutoff, s.expiredBatch)
			if err != nil {
				return p, translate(op, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return p, translate(op, err)
			}
			*step.count += n
			if n < int64(s.expiredBatch) {
				break
			}
		}
	}
	return p, nil
}
