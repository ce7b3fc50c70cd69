package domain

import "time"

// MailMessage is one email ready to send: rendered, addressed, and carrying
// the idempotency key of the outbox row it came from.
type MailMessage struct {
	// ID is stable across retries of the same message (the outbox row id). Mail
	// adapters pass it to providers that accept an idempotency key and derive
	// the Message-ID header from it.
	ID      string
	To      string
	Subject string
	Text    string
	HTML    string
}

// Event is a domain event for other systems: what happened, to what, when.
type Event struct {
	// ID is unique per event and stable across retries of its delivery.
	ID string
	// Type names the event, e.g. "user.registered". See docs/events.md.
	Type string
	// Version is the version of Detail's shape for this Type.
	Version    int
	OccurredAt time.Time
	// Detail is the event's JSON payload.
	Detail []byte
}
