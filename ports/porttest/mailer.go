// Package porttest holds the contract suites of gatehouse's ports. Every
// implementation of a port, the in-memory fake and the real adapter alike,
// runs the same suite, so a fake that passes can be trusted in other tests.
//
// A suite takes a constructor that builds a fresh implementation for one
// subtest together with a view of what reached the other side (for a real
// adapter, a local stand-in of the provider that decodes what it received).
// Each subtest's name states the rule it checks.
package porttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// NewMailer builds a fresh ports.Mailer for one subtest, and a function that
// returns the messages delivered so far as the provider received them,
// decoded back into domain.MailMessage (ID from the Message-ID or
// idempotency key, the text and HTML parts decoded), oldest first.
type NewMailer func(t *testing.T) (ports.Mailer, func() []domain.MailMessage)

// RunMailer runs the ports.Mailer contract against the implementation that
// newMailer builds.
func RunMailer(t *testing.T, newMailer NewMailer) {
	t.Helper()

	t.Run("delivers the message with its ID, recipient, subject, text and HTML intact", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		msg := sampleMail("msg-0001")
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: got error %v, want nil", err)
		}
		got := received()
		if len(got) != 1 {
			t.Fatalf("received %d messages, want 1", len(got))
		}
		if d := diffMail(got[0], msg); d != "" {
			t.Errorf("received message differs (-got +want):\n%s", d)
		}
	})

	t.Run("keeps non-ASCII text, long lines and markup intact", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		link := "https://app.example.com/verify-email#token=" + strings.Repeat("Zm9vYmFy", 130)
		msg := domain.MailMessage{
			ID:      "msg-0002",
			To:      "zoe@example.org",
			Subject: "Vérifiez votre adresse ✉ — Gatehouse",
			Text:    "Bonjour Zoë,\n\nOuvrez ce lien : " + link + "\n\nÀ bientôt ☕\n",
			HTML:    `<!doctype html><p>Bonjour Zoë,</p><p><a href="` + link + `&amp;x=1">Vérifier</a></p><p>=3D "quoted" &lt;tags&gt; ☕</p>`,
		}
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: got error %v, want nil", err)
		}
		got := received()
		if len(got) != 1 {
			t.Fatalf("received %d messages, want 1", len(got))
		}
		if d := diffMail(got[0], msg); d != "" {
			t.Errorf("received message differs (-got +want):\n%s", d)
		}
	})

	t.Run("sending the same message again never changes its ID", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		msg := sampleMail("msg-0003")
		for i := range 2 {
			if err := m.Send(context.Background(), msg); err != nil {
				t.Fatalf("Send #%d: got error %v, want nil", i+1, err)
			}
		}
		// Providers that take an idempotency key deliver once; the others
		// deliver twice, and the stable ID lets the recipient's side tell.
		got := received()
		if len(got) < 1 || len(got) > 2 {
			t.Fatalf("received %d messages, want 1 or 2", len(got))
		}
		for i, g := range got {
			if d := diffMail(g, msg); d != "" {
				t.Errorf("delivery #%d differs (-got +want):\n%s", i+1, d)
			}
		}
	})

	t.Run("different messages reach the provider with different IDs", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		for _, id := range []string{"msg-0004", "msg-0005"} {
			if err := m.Send(context.Background(), sampleMail(id)); err != nil {
				t.Fatalf("Send %s: got error %v, want nil", id, err)
			}
		}
		var ids []string
		for _, g := range received() {
			ids = append(ids, g.ID)
		}
		slices.Sort(ids)
		if want := []string{"msg-0004", "msg-0005"}; !slices.Equal(ids, want) {
			t.Errorf("received IDs %q, want %q", ids, want)
		}
	})

	t.Run("concurrent sends are all delivered", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = m.Send(context.Background(), sampleMail(fmt.Sprintf("msg-c%02d", i)))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Send #%d: got error %v, want nil", i, err)
			}
		}
		var ids []string
		for _, g := range received() {
			ids = append(ids, g.ID)
		}
		slices.Sort(ids)
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("msg-c%02d", i))
		}
		if !slices.Equal(ids, want) {
			t.Errorf("received IDs %q, want %q", ids, want)
		}
	})

	invalid := []struct {
		name   string
		mutate func(*domain.MailMessage)
	}{
		{"a message without an ID is refused as invalid and not sent", func(m *domain.MailMessage) { m.ID = "" }},
		{"an ID that cannot be a Message-ID is refused as invalid and not sent", func(m *domain.MailMessage) { m.ID = "a b<c>@d" }},
		{"a message without a recipient is refused as invalid and not sent", func(m *domain.MailMessage) { m.To = "" }},
		{"a recipient that is not an address is refused as invalid and not sent", func(m *domain.MailMessage) { m.To = "not-an-address" }},
		{"a recipient with a line break is refused as invalid and not sent", func(m *domain.MailMessage) { m.To = "a@example.com\r\nBcc: b@example.com" }},
		{"a subject with a line break is refused as invalid and not sent", func(m *domain.MailMessage) { m.Subject = "Hi\r\nBcc: b@example.com" }},
		{"a message without a subject is refused as invalid and not sent", func(m *domain.MailMessage) { m.Subject = "" }},
		{"a message with neither text nor HTML is refused as invalid and not sent", func(m *domain.MailMessage) { m.Text, m.HTML = "", "" }},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, received := newMailer(t)
			msg := sampleMail("msg-0100")
			tc.mutate(&msg)
			err := m.Send(context.Background(), msg)
			if got, want := domain.KindOf(err), domain.KindInvalid; err == nil || got != want {
				t.Errorf("Send: got error %v (kind %v), want kind %v", err, got, want)
			}
			if n := len(received()); n != 0 {
				t.Errorf("received %d messages, want 0", n)
			}
		})
	}

	t.Run("a cancelled context fails with a retryable error and sends nothing", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := m.Send(ctx, sampleMail("msg-0200"))
		if err == nil {
			t.Fatal("Send: got nil error, want one")
		}
		if domain.IsKind(err, domain.KindInvalid) {
			t.Errorf("Send: got kind %v, want a retryable kind", domain.KindOf(err))
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send: got %v, want an error wrapping context.Canceled", err)
		}
		if n := len(received()); n != 0 {
			t.Errorf("received %d messages, want 0", n)
		}
	})

	t.Run("a text-only message is delivered without an HTML part", func(t *testing.T) {
		t.Parallel()
		m, received := newMailer(t)
		msg := sampleMail("msg-0300")
		msg.HTML = ""
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: got error %v, want nil", err)
		}
		got := received()
		if len(got) != 1 {
			t.Fatalf("received %d messages, want 1", len(got))
		}
		if d := diffMail(got[0], msg); d != "" {
			t.Errorf("received message differs (-got +want):\n%s", d)
		}
	})
}

func sampleMail(id string) domain.MailMessage {
	return domain.MailMessage{
		ID:      id,
		To:      "ada@example.com",
		Subject: "Verify your email address",
		Text:    "Hello,\n\nOpen https://app.example.com/verify-email#token=abc123 to verify your address.\n",
		HTML:    `<p>Hello,</p><p><a href="https://app.example.com/verify-email#token=abc123">Verify your address</a></p>`,
	}
}

// diffMail lists the fields in which got and want differ, or returns "".
// Bodies are compared after normalising line endings, which SMTP turns into
// CRLF, and trailing line breaks, which MIME encoders may add.
func diffMail(got, want domain.MailMessage) string {
	var b strings.Builder
	field := func(name, g, w string) {
		if g != w {
			fmt.Fprintf(&b, "%s:\n\t-%q\n\t+%q\n", name, g, w)
		}
	}
	field("ID", got.ID, want.ID)
	field("To", got.To, want.To)
	field("Subject", got.Subject, want.Subject)
	field("Text", normBody(got.Text), normBody(want.Text))
	field("HTML", normBody(got.HTML), normBody(want.HTML))
	return b.String()
}

func normBody(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}
