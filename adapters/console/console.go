// Package console is the mailer for local development: instead of sending a
// message it prints a readable rendering to a writer (the terminal running
// `gatehouse dev`) and keeps the latest messages in memory, so a development
// page can list them and a verification link can be clicked.
//
// It is deliberately not a provider: EMAIL_PROVIDER cannot name it, so a
// deployment never loses mail to a terminal by mistake. Only the local
// wiring constructs it.
package console

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// Keep is how many messages a Mailer remembers; older ones are forgotten.
const Keep = 200

// Message is one message the Mailer was given, as the development page
// shows it.
type Message struct {
	domain.MailMessage
	// MessageID is the Message-ID header a real SMTP send would carry.
	MessageID string
	// SentAt is when Send accepted the message.
	SentAt time.Time
}

// Mailer is a ports.Mailer that prints messages instead of sending them. It
// is safe for concurrent use.
type Mailer struct {
	clock ports.Clock

	mu   sync.Mutex
	w    io.Writer
	msgs []Message // oldest first, at most Keep
}

// New returns a Mailer that writes each message to w and stamps it with
// clock's time (the system clock when clock is nil).
func New(w io.Writer, clock ports.Clock) *Mailer {
	if clock == nil {
		clock = systemClock{}
	}
	return &Mailer{w: w, clock: clock}
}

// Send prints msg and remembers it. It refuses what the real mail adapters
// refuse (domain.KindInvalid), so development shows the same failures as
// production, and fails with domain.KindUnavailable when the context is
// done or the writer fails.
func (m *Mailer) Send(ctx context.Context, msg domain.MailMessage) error {
	const op = "console.Send"
	if err := checkMessage(op, msg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	sent := Message{MailMessage: msg, MessageID: "<" + msg.ID + "@localhost>", SentAt: m.clock.Now()}

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := io.WriteString(m.w, render(sent)); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	m.msgs = append(m.msgs, sent)
	if len(m.msgs) > Keep {
		m.msgs = append([]Message(nil), m.msgs[len(m.msgs)-Keep:]...)
	}
	return nil
}

// Messages returns the remembered messages, newest first.
func (m *Mailer) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Message, len(m.msgs))
	for i, msg := range m.msgs {
		out[len(out)-1-i] = msg
	}
	return out
}

// Message returns the latest remembered message with this ID.
func (m *Mailer) Message(id string) (Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].ID == id {
			return m.msgs[i], true
		}
	}
	return Message{}, false
}

// render lays a message out for a terminal: headers, then the text part,
// which holds the links; the HTML part is only announced.
func render(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "----- mail (console mailer: not sent) -----\n")
	fmt.Fprintf(&b, "Message-ID: %s\n", m.MessageID)
	fmt.Fprintf(&b, "Date:       %s\n", m.SentAt.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "To:         %s\n", printable(m.To))
	fmt.Fprintf(&b, "Subject:    %s\n\n", printable(m.Subject))
	if m.Text != "" {
		b.WriteString(printable(strings.TrimRight(m.Text, "\n")))
		b.WriteString("\n")
	}
	if m.HTML != "" {
		fmt.Fprintf(&b, "\n[HTML part: %d bytes]\n", len(m.HTML))
	}
	b.WriteString("----- end of mail -----\n")
	return b.String()
}

// printable replaces control characters other than line feeds and tabs, so
// a message cannot move the cursor or recolour the developer's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '\uFFFD'
		}
		return r
	}, s)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// checkMessage refuses what domain.MailMessage.Validate refuses, as op.
func checkMessage(op string, msg domain.MailMessage) error {
	if err := msg.Validate(); err != nil {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: domain.PublicMessage(err), Err: err}
	}
	return nil
}
