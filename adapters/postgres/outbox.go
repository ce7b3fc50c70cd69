package postgres

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/domain"
)

// Enqueue implements ports.Outbox. All the messages go in with one INSERT
// (the statement is the same for any number of them, so it is prepared
// once), as pending, due at once: next_attempt_at is the message's
// CreatedAt, attempts 0. A payload that is not JSON is KindInvalid; an id
// already in the outbox is KindConflict.
func (s *Store) Enqueue(ctx context.Context, msgs ...domain.OutboxMessage) error {
	const op = "postgres.Store.Enqueue"
	if len(msgs) == 0 {
		return nil
	}
	var (
		ids      = make([]string, len(msgs))
		kinds    = make([]string, len(msgs))
		topics   = make([]string, len(msgs))
		payloads = make([]string, len(msgs))
		created  = make([]time.Time, len(msgs))
	)
	for i, m := range msgs {
		ids[i], kinds[i], topics[i], payloads[i], created[i] = m.ID, string(m.Kind), m.Topic, string(m.Payload), m.CreatedAt
	}
	_, err := s.exec(ctx,
		`INSERT INTO outbox (id, kind, topic, payload, status, attempts, next_attempt_at, created_at)
		SELECT m.id, m.kind, m.topic, m.payload, 'pending', 0, m.created_at, m.created_at
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[]) AS m (id, kind, topic, payload, created_at)`,
		ids, kinds, topics, payloads, created)
	return translate(op, err)
}
