package inmem

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.OutboxQueue = (*OutboxQueue)(nil)

// OutboxQueue is the in-memory ports.OutboxQueue: it dispatches the outbox
// of a Store. Every message committed to the Store's outbox is a pending
// row, due from its CreatedAt, as the database's rows are from the moment
// they are written. It keeps the rows' delivery state (status, attempts,
// next attempt, claim, last error) itself; payloads it replaces (scrubbed
// mail) are replaced in the Store, so Store.OutboxMessages shows them.
//
// Use one OutboxQueue per Store: two would each think they alone hold the
// claims. Any number of dispatchers may share it. It is safe for
// concurrent use; it works under the Store's lock, and its calls never
// join a transaction.
type OutboxQueue struct {
	store *Store

	// Guarded by store.mu.
	rows map[string]*queueRow // state of every row claimed at least once
	open int                  // every outbox message before this index is sent or dead
}

// queueRow is the delivery state of one outbox row.
type queueRow struct {
	index       int // in store.outbox.msgs
	status      domain.OutboxStatus
	attempts    int
	next        time.Time
	lockedUntil time.Time // zero: not claimed
	lastError   string
	sentAt      time.Time
}

// OutboxRow is one outbox row as the queue sees it, for tests to look at.
type OutboxRow struct {
	Message       domain.OutboxMessage
	Status        domain.OutboxStatus
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   *time.Time // nil when no claim holds it
	LastError     string
	SentAt        *time.Time
}

// NewOutboxQueue returns the queue of store's outbox.
func NewOutboxQueue(store *Store) *OutboxQueue {
	return &OutboxQueue{store: store, rows: map[string]*queueRow{}}
}

// lock starts one queue call: it fails as a database call would when ctx is
// done, and otherwise locks the Store, which the caller must unlock.
func (q *OutboxQueue) lock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	q.store.mu.Lock()
	return nil
}

// row returns the state of the message at index i, creating it for a row
// seen for the first time. The caller holds store.mu.
func (q *OutboxQueue) row(i int) *queueRow {
	m := q.store.outbox.msgs[i]
	r, ok := q.rows[m.ID]
	if !ok {
		r = &queueRow{index: i, status: domain.OutboxPending, next: dbTime(m.CreatedAt)}
		q.rows[m.ID] = r
	}
	return r
}

// settled reports whether the message at index i is sent or dead. The
// caller holds store.mu.
func (q *OutboxQueue) settled(i int) bool {
	r, ok := q.rows[q.store.outbox.msgs[i].ID]
	return ok && r.status != domain.OutboxPending
}

// due reports whether r may be claimed at now.
func (r *queueRow) due(now time.Time) bool {
	return r.status == domain.OutboxPending && !r.next.After(now) && !r.lockedUntil.After(now)
}

// Claim takes up to limit due rows, oldest due first (then in the order
// they were written), and holds them until now+lease.
func (q *OutboxQueue) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]domain.OutboxDelivery, error) {
	const op = "inmem.OutboxQueue.Claim"
	if limit < 1 || lease <= 0 {
		return nil, internal(op, "limit and lease must be positive")
	}
	if err := q.lock(ctx, op); err != nil {
		return nil, err
	}
	defer q.store.mu.Unlock()
	now = dbTime(now)
	msgs := q.store.outbox.msgs
	for q.open < len(msgs) && q.settled(q.open) {
		q.open++
	}
	var due []*queueRow
	for i := q.open; i < len(msgs); i++ {
		if r := q.row(i); r.due(now) {
			due = append(due, r)
		}
	}
	slices.SortStableFunc(due, func(a, b *queueRow) int { return a.next.Compare(b.next) })
	due = due[:min(limit, len(due))]
	until := dbTime(now.Add(lease))
	out := make([]domain.OutboxDelivery, len(due))
	for i, r := range due {
		r.lockedUntil = until
		m := outboxRow(msgs[r.index])
		out[i] = domain.OutboxDelivery{Message: m, Attempts: r.attempts, NextAttemptAt: r.next, Claim: domain.OutboxClaim{ID: m.ID, LockedUntil: until}}
	}
	return out, nil
}

// claimed returns the row the claim holds, or the ports.CodeClaimLost
// conflict. The caller holds store.mu.
func (q *OutboxQueue) claimed(op string, c domain.OutboxClaim) (*queueRow, error) {
	r, ok := q.rows[c.ID]
	if !ok || r.status != domain.OutboxPending || r.lockedUntil.IsZero() || !r.lockedUntil.Equal(dbTime(c.LockedUntil)) {
		return nil, &domain.Error{Kind: domain.KindConflict, Code: ports.CodeClaimLost, Op: op, Msg: "the outbox row is no longer held by this claim"}
	}
	return r, nil
}

// setPayload replaces the stored payload of r's message. The caller holds
// store.mu.
func (q *OutboxQueue) setPayload(op string, r *queueRow, payload []byte) error {
	if payload == nil {
		return nil
	}
	if !json.Valid(payload) {
		return internal(op, "outbox payload is not JSON")
	}
	q.store.outbox.msgs[r.index].Payload = slices.Clone(payload)
	return nil
}

// MarkSent records the claimed row as sent at now.
func (q *OutboxQueue) MarkSent(ctx context.Context, claim domain.OutboxClaim, attempts int, now time.Time, payload []byte) error {
	const op = "inmem.OutboxQueue.MarkSent"
	if err := q.lock(ctx, op); err != nil {
		return err
	}
	defer q.store.mu.Unlock()
	r, err := q.claimed(op, claim)
	if err != nil {
		return err
	}
	if err := q.setPayload(op, r, payload); err != nil {
		return err
	}
	r.status, r.attempts, r.sentAt, r.lockedUntil = domain.OutboxSent, attempts, dbTime(now), time.Time{}
	return nil
}

// MarkRetry records a failed attempt and makes the row due again at next.
func (q *OutboxQueue) MarkRetry(ctx context.Context, claim domain.OutboxClaim, attempts int, next time.Time, lastErr string) error {
	const op = "inmem.OutboxQueue.MarkRetry"
	if err := q.lock(ctx, op); err != nil {
		return err
	}
	defer q.store.mu.Unlock()
	r, err := q.claimed(op, claim)
	if err != nil {
		return err
	}
	r.attempts, r.next, r.lastError, r.lockedUntil = attempts, dbTime(next), lastErr, time.Time{}
	return nil
}

// MarkDead parks the claimed row as dead.
func (q *OutboxQueue) MarkDead(ctx context.Context, claim domain.OutboxClaim, attempts int, lastErr string, payload []byte) error {
	const op = "inmem.OutboxQueue.MarkDead"
	if err := q.lock(ctx, op); err != nil {
		return err
	}
	defer q.store.mu.Unlock()
	r, err := q.claimed(op, claim)
	if err != nil {
		return err
	}
	if err := q.setPayload(op, r, payload); err != nil {
		return err
	}
	r.status, r.attempts, r.lastError, r.lockedUntil = domain.OutboxDead, attempts, lastErr, time.Time{}
	return nil
}

// Release ends the claims that are still current.
func (q *OutboxQueue) Release(ctx context.Context, claims []domain.OutboxClaim) error {
	const op = "inmem.OutboxQueue.Release"
	if err := q.lock(ctx, op); err != nil {
		return err
	}
	defer q.store.mu.Unlock()
	for _, c := range claims {
		if r, err := q.claimed(op, c); err == nil {
			r.lockedUntil = time.Time{}
		}
	}
	return nil
}

// Stats reports the pending and due rows per kind at now.
func (q *OutboxQueue) Stats(ctx context.Context, now time.Time) (map[domain.OutboxKind]domain.OutboxDepth, error) {
	const op = "inmem.OutboxQueue.Stats"
	if err := q.lock(ctx, op); err != nil {
		return nil, err
	}
	defer q.store.mu.Unlock()
	now = dbTime(now)
	out := map[domain.OutboxKind]domain.OutboxDepth{}
	msgs := q.store.outbox.msgs
	for i := q.open; i < len(msgs); i++ {
		r := q.row(i)
		if r.status != domain.OutboxPending {
			continue
		}
		d := out[msgs[i].Kind]
		d.Pending++
		if r.due(now) {
			d.Due++
			d.OldestDue = max(d.OldestDue, now.Sub(r.next))
		}
		out[msgs[i].Kind] = d
	}
	return out, nil
}

// Rows returns every outbox row with its delivery state, in the order the
// messages were written.
func (q *OutboxQueue) Rows() []OutboxRow {
	q.store.mu.Lock()
	defer q.store.mu.Unlock()
	out := make([]OutboxRow, len(q.store.outbox.msgs))
	for i := range q.store.outbox.msgs {
		out[i] = q.view(i)
	}
	return out
}

// Row returns the row with that id, and whether there is one.
func (q *OutboxQueue) Row(id string) (OutboxRow, bool) {
	q.store.mu.Lock()
	defer q.store.mu.Unlock()
	i := slices.IndexFunc(q.store.outbox.msgs, func(m domain.OutboxMessage) bool { return m.ID == id })
	if i < 0 {
		return OutboxRow{}, false
	}
	return q.view(i), true
}

// view returns the row at index i as OutboxRow. The caller holds store.mu.
func (q *OutboxQueue) view(i int) OutboxRow {
	r := q.row(i)
	v := OutboxRow{
		Message: outboxRow(q.store.outbox.msgs[i]), Status: r.status, Attempts: r.attempts,
		NextAttemptAt: r.next, LastError: r.lastError,
	}
	if !r.lockedUntil.IsZero() {
		v.LockedUntil = dbTimePtr(&r.lockedUntil)
	}
	if !r.sentAt.IsZero() {
		v.SentAt = dbTimePtr(&r.sentAt)
	}
	return v
}
