package domain

import (
	"encoding/json"
	"time"
)

// OutboxKind says which port delivers an outbox message.
type OutboxKind string

// The kinds of outbox message.
const (
	OutboxMail  OutboxKind = "mail"  // Payload is a MailMessage; delivered by ports.Mailer
	OutboxEvent OutboxKind = "event" // Payload is an Event; delivered by ports.EventPublisher
)

// OutboxMessage is mail or an event written in the same transaction as the
// change that caused it, so it is delivered if and only if the change
// happened. Topic is the mail template or event type, kept for operators and
// metrics after the payload's secrets are scrubbed.
type OutboxMessage struct {
	ID        string
	Kind      OutboxKind
	Topic     string
	Payload   []byte
	CreatedAt time.Time
}

// NewMailOutbox wraps a rendered email for the outbox. The message's ID is the
// outbox row's id, so retries reuse it as the provider's idempotency key.
func NewMailOutbox(template string, msg MailMessage, now time.Time) (OutboxMessage, error) {
	payload, err := json.Marshal(msg)
	if err != nil {
		return OutboxMessage{}, Wrap(KindInternal, "domain.NewMailOutbox", err)
	}
	return OutboxMessage{ID: msg.ID, Kind: OutboxMail, Topic: template, Payload: payload, CreatedAt: now.UTC()}, nil
}

// NewEventOutbox wraps a domain event for the outbox; the event's ID is the
// row's id.
func NewEventOutbox(ev Event) (OutboxMessage, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return OutboxMessage{}, Wrap(KindInternal, "domain.NewEventOutbox", err)
	}
	return OutboxMessage{ID: ev.ID, Kind: OutboxEvent, Topic: ev.Type, Payload: payload, CreatedAt: ev.OccurredAt.UTC()}, nil
}
