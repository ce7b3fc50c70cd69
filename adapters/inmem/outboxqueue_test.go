package inmem_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

func TestOutboxQueueContract(t *testing.T) {
	t.Parallel()
	porttest.RunOutboxQueue(t, func(t *testing.T) porttest.QueueFixture {
		store := inmem.NewStore()
		q := inmem.NewOutboxQueue(store)
		return porttest.QueueFixture{
			Queue: q,
			Enqueue: func(t *testing.T, msgs ...domain.OutboxMessage) {
				t.Helper()
				if err := store.Enqueue(context.Background(), msgs...); err != nil {
					t.Fatalf("Enqueue: %v", err)
				}
			},
			Row: func(t *testing.T, id string) porttest.QueueRow {
				t.Helper()
				r, ok := q.Row(id)
				if !ok {
					t.Fatalf("no outbox row %s", id)
				}
				return porttest.QueueRow{
					Status: r.Status, Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LockedUntil: r.LockedUntil,
					LastError: r.LastError, SentAt: r.SentAt, Payload: r.Message.Payload,
				}
			},
		}
	})
}

func TestOutboxQueueScrubbedPayloadReachesTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := inmem.NewStore()
	q := inmem.NewOutboxQueue(store)
	msg := domain.MailMessage{ID: "0194d6a0-0000-7000-8000-000000000001", To: "a@example.com", Subject: "s", Text: "link #token=abc", HTML: "<a>#token=abc</a>"}
	m, err := domain.NewMailOutbox("verify_email", msg, q0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	ds, err := q.Claim(ctx, q0, 1, lease)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Claim: got %d rows, error %v; want 1", len(ds), err)
	}
	scrubbed := domain.ScrubMailPayload(m.Payload)
	if err := q.MarkSent(ctx, ds[0].Claim, 1, q0, scrubbed); err != nil {
		t.Fatalf("MarkSent: %v", err)
	}
	got := store.OutboxMessages()
	if len(got) != 1 || string(got[0].Payload) != string(scrubbed) {
		t.Errorf("Store.OutboxMessages payload: got %q, want %q", got[0].Payload, scrubbed)
	}
}

var q0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

const lease = time.Minute
