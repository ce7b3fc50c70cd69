package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/console"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// fakeClock advances one minute on every reading.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Minute)
	return c.now
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

// syncBuffer is a bytes.Buffer safe for the concurrent sends of the
// contract suite.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sample(id string) domain.MailMessage {
	return domain.MailMessage{
		ID:      id,
		To:      "ada@example.com",
		Subject: "Verify your email address",
		Text:    "Open https://app.example.com/verify#t=abc123 to verify.\n",
		HTML:    `<a href="https://app.example.com/verify#t=abc123">Verify</a>`,
	}
}

func TestMailerContract(t *testing.T) {
	t.Parallel()
	porttest.RunMailer(t, func(t *testing.T) (ports.Mailer, func() []domain.MailMessage) {
		m := console.New(&syncBuffer{}, newClock())
		return m, func() []domain.MailMessage {
			var out []domain.MailMessage
			for _, msg := range m.Messages() {
				out = append([]domain.MailMessage{msg.MailMessage}, out...) // oldest first
			}
			return out
		}
	})
}

func TestSendPrintsAReadableMessage(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	m := console.New(&out, newClock())
	if err := m.Send(context.Background(), sample("msg-1")); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	want := "----- mail (console mailer: not sent) -----\n" +
		"Message-ID: <msg-1@localhost>\n" +
		"Date:       Fri, 01 May 2026 12:01:00 +0000\n" +
		"To:         ada@example.com\n" +
		"Subject:    Verify your email address\n" +
		"\n" +
		"Open https://app.example.com/verify#t=abc123 to verify.\n" +
		"\n" +
		"[HTML part: 60 bytes]\n" +
		"----- end of mail -----\n"
	if d := cmp.Diff(want, out.String()); d != "" {
		t.Errorf("output differs (-want +got):\n%s", d)
	}
}

func TestControlCharactersNeverReachTheTerminal(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	m := console.New(&out, newClock())
	msg := sample("msg-1")
	msg.Subject = "Hi \x1b[31mred\x1b[0m"
	msg.Text = "line one\n\x1b]0;title\x07line two\twith tab\n"
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	if got := out.String(); strings.ContainsAny(got, "\x1b\x07") {
		t.Errorf("output contains control characters: %q", got)
	}
	if got := out.String(); !strings.Contains(got, "line two\twith tab") {
		t.Errorf("output lost the tab: %q", got)
	}
	if got, _ := m.Message("msg-1"); got.Subject != msg.Subject {
		t.Errorf("remembered subject: got %q, want the original %q", got.Subject, msg.Subject)
	}
}

func TestMessagesAreNewestFirstWithSentTime(t *testing.T) {
	t.Parallel()
	m := console.New(&syncBuffer{}, newClock())
	for _, id := range []string{"a", "b", "c"} {
		if err := m.Send(context.Background(), sample(id)); err != nil {
			t.Fatalf("Send %s: got error %v, want nil", id, err)
		}
	}
	var got []string
	for _, msg := range m.Messages() {
		got = append(got, fmt.Sprintf("%s %s %s", msg.ID, msg.MessageID, msg.SentAt.Format("15:04")))
	}
	want := []string{"c <c@localhost> 12:03", "b <b@localhost> 12:02", "a <a@localhost> 12:01"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Messages differ (-want +got):\n%s", d)
	}
}

func TestMessageFindsTheLatestWithThatID(t *testing.T) {
	t.Parallel()
	m := console.New(&syncBuffer{}, newClock())
	for _, id := range []string{"a", "b", "a"} {
		if err := m.Send(context.Background(), sample(id)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		id     string
		wantOK bool
		wantAt string
	}{
		{"a", true, "12:03"},
		{"b", true, "12:02"},
		{"missing", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			got, ok := m.Message(tc.id)
			if ok != tc.wantOK {
				t.Fatalf("Message(%q): got ok %v, want %v", tc.id, ok, tc.wantOK)
			}
			if ok && got.SentAt.Format("15:04") != tc.wantAt {
				t.Errorf("Message(%q): got SentAt %v, want %s", tc.id, got.SentAt, tc.wantAt)
			}
		})
	}
}

func TestOnlyTheLatestMessagesAreKept(t *testing.T) {
	t.Parallel()
	m := console.New(&syncBuffer{}, newClock())
	for i := range console.Keep + 5 {
		if err := m.Send(context.Background(), sample(fmt.Sprintf("m%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	msgs := m.Messages()
	if got, want := len(msgs), console.Keep; got != want {
		t.Fatalf("kept %d messages, want %d", got, want)
	}
	if got, want := msgs[0].ID, fmt.Sprintf("m%03d", console.Keep+4); got != want {
		t.Errorf("newest: got %s, want %s", got, want)
	}
	if got, want := msgs[len(msgs)-1].ID, "m005"; got != want {
		t.Errorf("oldest kept: got %s, want %s", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("terminal gone") }

func TestWriterFailureIsRetryableAndRemembersNothing(t *testing.T) {
	t.Parallel()
	m := console.New(failingWriter{}, nil)
	err := m.Send(context.Background(), sample("m1"))
	if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
		t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, want)
	}
	if n := len(m.Messages()); n != 0 {
		t.Errorf("remembered %d messages, want 0", n)
	}
}
