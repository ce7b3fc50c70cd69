// Package inmem provides in-memory fakes of every port, for tests and for the
// local wiring. Each fake keeps what it was given so a test can look at it
// (Mailer.Sent, EventPublisher.Published), can be told to fail, and passes
// the same contract suite (ports/porttest) as the real adapter, so it can be
// trusted to behave like one.
package inmem

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// errMailInjected is the cause of the failures Mailer was told to produce.
var errMailInjected = errors.New("injected mail failure")

// Mailer is an in-memory ports.Mailer. It refuses the messages a real
// provider adapter refuses, records the rest, and can be told to fail.
// It is safe for concurrent use.
type Mailer struct {
	mu       sync.Mutex
	sent     []domain.MailMessage
	failures []domain.Kind
}

// NewMailer returns an empty Mailer.
func NewMailer() *Mailer { return &Mailer{} }

// Send records msg, unless the context is done, msg is malformed (an error
// of kind domain.KindInvalid, as from the real adapters), or a failure was
// queued with FailNext.
func (m *Mailer) Send(ctx context.Context, msg domain.MailMessage) error {
	const op = "inmem.Mailer.Send"
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	if err := checkMailMessage(op, msg); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failures) > 0 {
		kind := m.failures[0]
		m.failures = m.failures[1:]
		return domain.Wrap(kind, op, errMailInjected)
	}
	m.sent = append(m.sent, msg)
	return nil
}

// Sent returns a copy of the messages accepted so far, oldest first.
func (m *Mailer) Sent() []domain.MailMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]domain.MailMessage, len(m.sent))
	copy(out, m.sent)
	return out
}

// FailNext makes the next n well-formed sends fail with an error of the
// given kind (domain.KindUnavailable for a provider outage,
// domain.KindInvalid for a rejected message). Failed sends record nothing.
// Calls add up.
func (m *Mailer) FailNext(n int, kind domain.Kind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.failures = append(m.failures, kind)
	}
}

// checkMailMessage applies the checks every mail adapter makes before it talks to a
// provider, so that the fake refuses exactly what a real adapter refuses.
func checkMailMessage(op string, msg domain.MailMessage) error {
	invalid := func(why string) error {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: why}
	}
	switch {
	case !validMailID(msg.ID):
		return invalid("message ID must be 1 to 128 letters, digits, '.', '_' or '-'")
	case msg.To == "":
		return invalid("message has no recipient")
	case strings.ContainsAny(msg.To, "\r\n"):
		return invalid("recipient contains a line break")
	case msg.Subject == "":
		return invalid("message has no subject")
	case strings.ContainsAny(msg.Subject, "\r\n"):
		return invalid("subject contains a line break")
	case msg.Text == "" && msg.HTML == "":
		return invalid("message has neither a text nor an HTML body")
	}
	if _, err := mail.ParseAddress(msg.To); err != nil {
		return invalid("recipient is not an email address")
	}
	return nil
}

// validMailID reports whether id can be the left part of a Message-ID
// and an idempotency key as it is.
func validMailID(id string) bool {
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
