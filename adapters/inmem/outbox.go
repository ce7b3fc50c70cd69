package inmem

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/gatehouse/gatehouse/domain"
)

// outboxRows is the committed outbox in the order it was written. It only
// ever grows: the in-memory outbox is read by tests, not dispatched.
type outboxRows struct {
	msgs []domain.OutboxMessage
	ids  map[string]struct{}
}

func (r *outboxRows) add(msgs ...domain.OutboxMessage) {
	for _, m := range msgs {
		r.msgs = append(r.msgs, m)
		r.ids[m.ID] = struct{}{}
	}
}

// outboxRow returns m as stored and read back: time normalised, payload
// copied.
func outboxRow(m domain.OutboxMessage) domain.OutboxMessage {
	m.Payload = slices.Clone(m.Payload)
	m.CreatedAt = dbTime(m.CreatedAt)
	return m
}

// Enqueue stores the messages, inside ctx's transaction when it carries one
// (they are kept only if it commits), at once otherwise. All or none of
// msgs are stored. An id that is not a UUID, an unknown kind or a payload
// that is not JSON is a domain.KindInternal error (a bug in the caller); an
// id already in the outbox is a domain.KindConflict error.
func (s *Store) Enqueue(ctx context.Context, msgs ...domain.OutboxMessage) error {
	const op = "inmem.Store.Enqueue"
	for _, m := range msgs {
		switch {
		case !domain.ValidID(m.ID):
			return internal(op, "outbox message id is not a UUID")
		case m.Kind != domain.OutboxMail && m.Kind != domain.OutboxEvent:
			return internal(op, "unknown outbox kind "+string(m.Kind))
		case !json.Valid(m.Payload):
			return internal(op, "outbox payload is not JSON")
		}
	}
	t, err := s.enter(ctx, op)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	seen := map[string]struct{}{}
	if t != nil {
		for _, m := range t.outbox {
			seen[m.ID] = struct{}{}
		}
	}
	rows := make([]domain.OutboxMessage, len(msgs))
	for i, m := range msgs {
		_, pending := seen[m.ID]
		_, stored := s.outbox.ids[m.ID]
		if pending || stored {
			return conflict(op, "", "An outbox message with this id already exists.")
		}
		seen[m.ID] = struct{}{}
		rows[i] = outboxRow(m)
	}
	if t != nil {
		t.outbox = append(t.outbox, rows...)
	} else {
		s.outbox.add(rows...)
	}
	return nil
}

// OutboxMessages returns copies of the committed outbox messages in the
// order they were enqueued.
func (s *Store) OutboxMessages() []domain.OutboxMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]domain.OutboxMessage, len(s.outbox.msgs))
	for i, m := range s.outbox.msgs {
		out[i] = outboxRow(m)
	}
	return out
}
