package porttest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
)

// outboxEvent returns an event message with a fresh id and a JSON detail.
func outboxEvent(t *testing.T, typ string) domain.OutboxMessage {
	t.Helper()
	id := newAccountID(t)
	detail, err := json.Marshal(map[string]any{"user_id": newAccountID(t), "n": 3, "ok": true})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	m, err := domain.NewEventOutbox(domain.Event{ID: id, Type: typ, Version: 1, OccurredAt: accountsT0, Detail: detail})
	if err != nil {
		t.Fatalf("NewEventOutbox: %v", err)
	}
	return m
}

// outboxMail returns a mail message with a fresh id whose payload holds
// characters that JSON encoders escape differently.
func outboxMail(t *testing.T, template string) domain.OutboxMessage {
	t.Helper()
	m, err := domain.NewMailOutbox(template, domain.MailMessage{
		ID:      newAccountID(t),
		To:      "zoe@example.com",
		Subject: "Vérifiez votre adresse ✉",
		Text:    "Open https://app.example.com/verify-email#token=abc&x=1\n",
		HTML:    `<p>Open <a href="https://app.example.com/verify-email#token=abc&amp;x=1">this link</a> "now"</p>`,
	}, accountsT0.Add(time.Second))
	if err != nil {
		t.Fatalf("NewMailOutbox: %v", err)
	}
	return m
}

// outboxView is an outbox message with its payload decoded, because a
// database may keep JSON in a normal form (jsonb reorders keys and changes
// white space) rather than byte for byte.
type outboxView struct {
	ID, Kind, Topic string
	Payload         any
	CreatedAt       time.Time
}

func viewOutbox(t *testing.T, msgs []domain.OutboxMessage) []outboxView {
	t.Helper()
	out := make([]outboxView, len(msgs))
	for i, m := range msgs {
		out[i] = outboxView{ID: m.ID, Kind: string(m.Kind), Topic: m.Topic, CreatedAt: m.CreatedAt}
		if err := json.Unmarshal(m.Payload, &out[i].Payload); err != nil {
			t.Errorf("message %s: payload is not JSON: %v", m.ID, err)
		}
	}
	slices.SortFunc(out, func(a, b outboxView) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// readOutbox returns the committed messages with those ids.
func (f accountFixture) readOutbox(ids ...string) []domain.OutboxMessage {
	f.t.Helper()
	var out []domain.OutboxMessage
	for _, m := range f.ReadOutbox(f.ctx) {
		if slices.Contains(ids, m.ID) {
			out = append(out, m)
		}
	}
	return out
}

func runOutbox(t *testing.T, newStores func(t *testing.T) AccountStores) {
	t.Helper()

	t.Run("Enqueue keeps payload, kind, topic, id and time", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		want := []domain.OutboxMessage{outboxMail(t, "verify_email"), outboxEvent(t, "user.registered"), outboxEvent(t, "user.email_verified")}
		if err := f.Outbox.Enqueue(f.ctx, want[:2]...); err != nil {
			t.Fatalf("Enqueue of two: got error %v, want nil", err)
		}
		if err := f.Outbox.Enqueue(f.ctx, want[2]); err != nil {
			t.Fatalf("Enqueue of one: got error %v, want nil", err)
		}
		got := f.readOutbox(want[0].ID, want[1].ID, want[2].ID)
		if d := cmp.Diff(viewOutbox(t, got), viewOutbox(t, want), accountOpts); d != "" {
			t.Errorf("outbox differs (-got +want):\n%s", d)
		}
	})

	for _, tc := range []struct {
		name  string
		fnErr error
	}{
		{"Enqueue inside a committed transaction keeps the messages", nil},
		{"Enqueue inside a failed transaction leaves nothing", errAccountFn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAccountFixture(t, newStores)
			msgs := []domain.OutboxMessage{outboxMail(t, "password_reset"), outboxEvent(t, "user.registered")}
			err := f.Tx.WithinTx(f.ctx, func(ctx context.Context) error {
				for _, m := range msgs {
					if err := f.Outbox.Enqueue(ctx, m); err != nil {
						t.Errorf("Enqueue: got error %v, want nil", err)
					}
				}
				return tc.fnErr
			})
			if (tc.fnErr == nil) != (err == nil) {
				t.Fatalf("WithinTx: got error %v, want %v", err, tc.fnErr)
			}
			want := msgs
			if tc.fnErr != nil {
				want = nil
			}
			got := f.readOutbox(msgs[0].ID, msgs[1].ID)
			if d := cmp.Diff(viewOutbox(t, got), viewOutbox(t, want), accountOpts); d != "" {
				t.Errorf("outbox differs (-got +want):\n%s", d)
			}
		})
	}

	t.Run("Enqueue of no messages is not an error", func(t *testing.T) {
		t.Parallel()
		f := newAccountFixture(t, newStores)
		if err := f.Outbox.Enqueue(f.ctx); err != nil {
			t.Errorf("Enqueue(): got error %v, want nil", err)
		}
	})
}
