package postgres

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.OutboxQueue = (*OutboxQueue)(nil)

// OutboxQueue is the ports.OutboxQueue over the outbox table, for any number
// of dispatchers in any number of processes.
//
// A claim is one statement: it locks up to n due rows with FOR UPDATE SKIP
// LOCKED, so concurrent claims pass over each other's rows instead of
// waiting, and sets their locked_until to the end of the lease, so a
// committed claim keeps others off the rows until then. Outcomes are
// recorded only while locked_until still holds the claim's value, which
// fences off a dispatcher whose lease ran out and whose row was claimed
// again. Statements use placeholders, so pgx prepares each once per
// connection; they run on the pool (pgx's own when Open made db), never in
// a caller's transaction.
type OutboxQueue struct {
	db   *sql.DB
	pool *pgxpool.Pool
}

// NewOutboxQueue returns the queue over db, normally the app role's
// connection from Open.
func NewOutboxQueue(db *bun.DB) *OutboxQueue {
	return &OutboxQueue{db: db.DB, pool: poolOf(db.DB)}
}

// A row is due when it is pending, its time has come and no live claim holds
// it. The partial index outbox_due_idx (next_attempt_at, id WHERE status =
// 'pending') serves every statement that looks for due rows, in claim order.
const (
	queueClaimSQL = `UPDATE outbox AS o
SET locked_until = $2
FROM (
	SELECT id FROM outbox
	WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
	ORDER BY next_attempt_at, id
	LIMIT $3
	FOR UPDATE SKIP LOCKED
) AS due
WHERE o.id = due.id
RETURNING o.id, o.kind, o.topic, o.payload, o.attempts, o.next_attempt_at, o.created_at, o.locked_until`

	queueSentSQL = `UPDATE outbox
SET status = 'sent', attempts = $3, sent_at = $4, locked_until = NULL, payload = COALESCE($5::jsonb, payload)
WHERE id = $1 AND status = 'pending' AND locked_until = $2`

	queueRetrySQL = `UPDATE outbox
SET attempts = $3, next_attempt_at = $4, last_error = $5, locked_until = NULL
WHERE id = $1 AND status = 'pending' AND locked_until = $2`

	queueDeadSQL = `UPDATE outbox
SET status = 'dead', attempts = $3, last_error = $4, locked_until = NULL, payload = COALESCE($5::jsonb, payload)
WHERE id = $1 AND status = 'pending' AND locked_until = $2`

	queueReleaseSQL = `UPDATE outbox AS o
SET locked_until = NULL
FROM unnest($1::uuid[], $2::timestamptz[]) AS c (id, locked_until)
WHERE o.id = c.id AND o.status = 'pending' AND o.locked_until = c.locked_until`

	queueStatsSQL = `SELECT kind, count(*),
	count(*) FILTER (WHERE next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)),
	min(next_attempt_at) FILTER (WHERE next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1))
FROM outbox
WHERE status = 'pending'
GROUP BY kind`
)

// Claim implements ports.OutboxQueue.
func (q *OutboxQueue) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]domain.OutboxDelivery, error) {
	const op = "postgres.OutboxQueue.Claim"
	if limit < 1 || lease <= 0 {
		return nil, domain.Wrap(domain.KindInternal, op, errors.New("limit and lease must be positive"))
	}
	rows, done, err := queryDirect(ctx, q.pool, q.db, queueClaimSQL, now, now.Add(lease), limit)
	if err != nil {
		return nil, translate(op, err)
	}
	defer done()
	var out []domain.OutboxDelivery
	for rows.Next() {
		var d domain.OutboxDelivery
		var kind string
		if err := rows.Scan(&d.Message.ID, &kind, &d.Message.Topic, &d.Message.Payload, &d.Attempts,
			&d.NextAttemptAt, &d.Message.CreatedAt, &d.Claim.LockedUntil); err != nil {
			return nil, translate(op, err)
		}
		d.Message.Kind = domain.OutboxKind(kind)
		d.Message.CreatedAt = d.Message.CreatedAt.UTC()
		d.NextAttemptAt = d.NextAttemptAt.UTC()
		d.Claim.ID, d.Claim.LockedUntil = d.Message.ID, d.Claim.LockedUntil.UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(op, err)
	}
	// RETURNING gives no order: hand the rows out oldest due first.
	slices.SortFunc(out, func(a, b domain.OutboxDelivery) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.Message.ID, b.Message.ID)
	})
	return out, nil
}

// MarkSent implements ports.OutboxQueue.
func (q *OutboxQueue) MarkSent(ctx context.Context, claim domain.OutboxClaim, attempts int, now time.Time, payload []byte) error {
	return q.settle(ctx, "postgres.OutboxQueue.MarkSent", queueSentSQL, claim.ID, claim.LockedUntil, attempts, now, jsonbArg(payload))
}

// MarkRetry implements ports.OutboxQueue.
func (q *OutboxQueue) MarkRetry(ctx context.Context, claim domain.OutboxClaim, attempts int, next time.Time, lastErr string) error {
	return q.settle(ctx, "postgres.OutboxQueue.MarkRetry", queueRetrySQL, claim.ID, claim.LockedUntil, attempts, next, lastErr)
}

// MarkDead implements ports.OutboxQueue.
func (q *OutboxQueue) MarkDead(ctx context.Context, claim domain.OutboxClaim, attempts int, lastErr string, payload []byte) error {
	return q.settle(ctx, "postgres.OutboxQueue.MarkDead", queueDeadSQL, claim.ID, claim.LockedUntil, attempts, lastErr, jsonbArg(payload))
}

// settle runs one of the outcome statements, whose first two arguments are
// the claim, and reports a lost claim when it matched no row.
func (q *OutboxQueue) settle(ctx context.Context, op, query string, args ...any) error {
	if id, _ := args[0].(string); !domain.ValidID(id) {
		return claimLost(op) // no row can have it; the database would refuse it as uuid
	}
	n, err := execDirect(ctx, q.pool, q.db, query, args...)
	if err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return claimLost(op)
	}
	return nil
}

func claimLost(op string) error {
	return &domain.Error{Kind: domain.KindConflict, Code: ports.CodeClaimLost, Op: op, Msg: "the outbox row is no longer held by this claim"}
}

// jsonbArg passes payload as jsonb text, or NULL (keep the stored payload)
// when it is nil.
func jsonbArg(payload []byte) any {
	if payload == nil {
		return nil
	}
	return string(payload)
}

// Release implements ports.OutboxQueue, in one statement.
func (q *OutboxQueue) Release(ctx context.Context, claims []domain.OutboxClaim) error {
	const op = "postgres.OutboxQueue.Release"
	ids := make([]string, 0, len(claims))
	until := make([]time.Time, 0, len(claims))
	for _, c := range claims {
		if domain.ValidID(c.ID) {
			ids = append(ids, c.ID)
			until = append(until, c.LockedUntil)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := execDirect(ctx, q.pool, q.db, queueReleaseSQL, ids, until)
	return translate(op, err)
}

// Stats implements ports.OutboxQueue, in one statement over the pending
// rows only.
func (q *OutboxQueue) Stats(ctx context.Context, now time.Time) (map[domain.OutboxKind]domain.OutboxDepth, error) {
	const op = "postgres.OutboxQueue.Stats"
	rows, done, err := queryDirect(ctx, q.pool, q.db, queueStatsSQL, now)
	if err != nil {
		return nil, translate(op, err)
	}
	defer done()
	out := map[domain.OutboxKind]domain.OutboxDepth{}
	for rows.Next() {
		var kind string
		var d domain.OutboxDepth
		var oldest sql.NullTime
		if err := rows.Scan(&kind, &d.Pending, &d.Due, &oldest); err != nil {
			return nil, translate(op, err)
		}
		if oldest.Valid {
			d.OldestDue = now.Sub(oldest.Time)
		}
		out[domain.OutboxKind(kind)] = d
	}
	if err := rows.Err(); err != nil {
		return nil, translate(op, err)
	}
	return out, nil
}
