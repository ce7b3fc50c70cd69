package domain

import (
	netmail "net/mail"
	"strings"
	"time"
)

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

// Validate refuses, as a KindInvalid error, what no mail provider should be
// asked to send: an ID that cannot serve as an idempotency key and the left
// part of a Message-ID as it is (1 to 128 of letters, digits, '.', '_', '-'),
// a missing or unparsable recipient, a missing subject, a line break in
// either (header injection), or no body at all. Every mail adapter, fake or
// real, checks this before talking to anyone.
func (m MailMessage) Validate() error {
	invalid := func(why string) error {
		return &Error{Kind: KindInvalid, Op: "domain.MailMessage.Validate", Msg: why}
	}
	switch {
	case !validMessageID(m.ID):
		return invalid("message ID must be 1 to 128 letters, digits, '.', '_' or '-'")
	case m.To == "":
		return invalid("message has no recipient")
	case strings.ContainsAny(m.To, "\r\n"):
		return invalid("recipient contains a line break")
	case m.Subject == "":
		return invalid("message has no subject")
	case strings.ContainsAny(m.Subject, "\r\n"):
		return invalid("subject contains a line break")
	case m.Text == "" && m.HTML == "":
		return invalid("message has neither a text nor an HTML body")
	}
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return invalid("recipient is not an email address")
	}
	return nil
}

func validMessageID(id string) bool {
	if id == "" || len(id) > 128 || id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}
