package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// Expired windows are deleted by the limiter itself: every purgeEvery-th call
// (outside a transaction) deletes up to purgeBatch rows whose window has
// ended. Each call adds at most one row, so two rows removed per call on
// average keep up with any load, and the cost is one indexed delete of a few
// hundred rows per hundred calls. Nothing else has to run for the table to
// stay small; PurgeRateLimits is there for a worker or an operator that
// wants to clear a backlog at once.
const (
	defaultPurgeEvery = 100
	defaultPurgeBatch = 200
)

// Allow implements ports.RateLimiter with fixed windows aligned to multiples
// of window since the zero time (for whole minutes, hours or days: on UTC
// boundaries), so every replica puts an attempt in the same window. It costs
// one upsert, atomic under any concurrency: each caller gets its own count
// back, so exactly limit callers in a window are admitted. The counter
// stops at the largest integer instead of overflowing. A window that is
// not positive is a KindInternal error (a configuration bug).
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	const op = "postgres.Store.Allow"
	if window <= 0 {
		return false, 0, domain.Wrap(domain.KindInternal, op, errors.New("rate limit window must be positive"))
	}
	now = now.UTC()
	start := now.Truncate(window)
	end := start.Add(window)
	var count int
	err := s.queryRow(ctx,
		`INSERT INTO rate_limits (key, window_start, count, expires_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (key, window_start) DO UPDATE SET count = LEAST(rate_limits.count::bigint + 1, 2147483647)
		RETURNING count`,
		key, start, end).Scan(&count)
	if err != nil {
		return false, 0, translate(op, err)
	}
	s.maybePurge(ctx, now)
	if count <= limit {
		return true, 0, nil
	}
	return false, end.Sub(now), nil
}

// maybePurge deletes a batch of expired windows every purgeEvery calls. It
// never runs inside a transaction, whose connection it would have to wait
// beside for a second one. A failure is ignored: the purge is housekeeping,
// and a later call tries again.
func (s *Store) maybePurge(ctx context.Context, now time.Time) {
	if _, inTx := s.tx(ctx); inTx || s.purgeEvery == 0 || s.calls.Add(1)%s.purgeEvery != 0 {
		return
	}
	_, _ = s.purge(ctx, now, s.purgeBatch)
}

// PurgeRateLimits deletes every rate-limit window that ended at or before
// now, in batches, and returns how many rows it deleted. The limiter does
// this a batch at a time as it runs; call this to clear a backlog at once.
func (s *Store) PurgeRateLimits(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.purge(ctx, now, 1000)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
}

// purge deletes up to batch expired windows, skipping rows another session
// has locked.
func (s *Store) purge(ctx context.Context, now time.Time, batch int) (int64, error) {
	const op = "postgres.Store.PurgeRateLimits"
	res, err := s.db.DB.ExecContext(ctx,
		`DELETE FROM rate_limits WHERE (key, window_start) IN (
			SELECT key, window_start FROM rate_limits WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now, batch)
	if err != nil {
		return 0, translate(op, err)
	}
	n, err := res.RowsAffected()
	return n, translate(op, err)
}
