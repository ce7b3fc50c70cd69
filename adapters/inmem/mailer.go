package inmem

import (
	"context"
	"errors"
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

// checkMailMessage refuses what domain.MailMessage.Validate refuses, as op.
func checkMailMessage(op string, msg domain.MailMessage) error {
	if err := msg.Validate(); err != nil {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: domain.PublicMessage(err), Err: err}
	}
	return nil
}
