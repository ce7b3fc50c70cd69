package porttest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// QueueRow is an outbox row's stored delivery state, as a contract test
// reads it back.
type QueueRow struct {
	Status        domain.OutboxStatus
	Attempts      int
	NextAttemptAt time.Time
	LockedUntil   *time.Time // nil when no claim holds the row
	LastError     string
	SentAt        *time.Time
	Payload       []byte
}

// QueueFixture is one implementation of ports.OutboxQueue over an outbox
// that holds nothing but what the subtest enqueues.
type QueueFixture struct {
	Queue ports.OutboxQueue
	// Enqueue commits the messages to the outbox as pending rows, each due
	// from its CreatedAt. It fails the test itself on error.
	Enqueue func(t *testing.T, msgs ...domain.OutboxMessage)
	// Row reads the row with that id back. It fails the test itself when
	// there is none.
	Row func(t *testing.T, id string) QueueRow
}

// queueT0 is the subtests' time: not UTC, to the microsecond.
var queueT0 = time.Date(2026, time.March, 14, 15, 9, 26, 535897000, time.FixedZone("UTC-5", -5*60*60))

const queueLease = 5 * time.Minute

// RunOutboxQueue runs the ports.OutboxQueue contract against the
// implementation newQueue builds, once per subtest, with an empty outbox of
// its own (Claim takes any due row, so subtests cannot share one).
func RunOutboxQueue(t *testing.T, newQueue func(t *testing.T) QueueFixture) {
	t.Helper()
	ctx := context.Background()

	t.Run("Claim of an empty outbox returns no rows and no error", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		got, err := f.Queue.Claim(ctx, queueT0, 10, queueLease)
		if err != nil || len(got) != 0 {
			t.Fatalf("Claim: got %d rows, error %v; want none, nil", len(got), err)
		}
	})

	t.Run("Claim takes due rows oldest first up to the limit, intact, and holds them for the lease", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		msgs := []domain.OutboxMessage{
			queueMail(t, queueT0.Add(2*time.Second)),
			queueEvent(t, queueT0),
			queueMail(t, queueT0.Add(time.Second)),
		}
		f.Enqueue(t, msgs...)
		now := queueT0.Add(time.Minute)
		got, err := f.Queue.Claim(ctx, now, 2, queueLease)
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		want := []domain.OutboxDelivery{
			{Message: msgs[1], NextAttemptAt: queueT0, Claim: domain.OutboxClaim{ID: msgs[1].ID, LockedUntil: now.Add(queueLease)}},
			{Message: msgs[2], NextAttemptAt: queueT0.Add(time.Second), Claim: domain.OutboxClaim{ID: msgs[2].ID, LockedUntil: now.Add(queueLease)}},
		}
		if d := cmp.Diff(got, want, queueOpts); d != "" {
			t.Errorf("claimed rows differ (-got +want):\n%s", d)
		}
		row := f.Row(t, msgs[1].ID)
		if row.Status != domain.OutboxPending || row.LockedUntil == nil || !row.LockedUntil.Equal(now.Add(queueLease)) {
			t.Errorf("claimed row: got status %s, locked until %v; want pending, locked until %v", row.Status, row.LockedUntil, now.Add(queueLease))
		}
	})

	t.Run("a row is not due before its time", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		f.Enqueue(t, queueMail(t, queueT0))
		got, err := f.Queue.Claim(ctx, queueT0.Add(-time.Microsecond), 10, queueLease)
		if err != nil || len(got) != 0 {
			t.Fatalf("Claim before the row is due: got %d rows, error %v; want none", len(got), err)
		}
		got, err = f.Queue.Claim(ctx, queueT0, 10, queueLease)
		if err != nil || len(got) != 1 {
			t.Fatalf("Claim when the row is due: got %d rows, error %v; want 1", len(got), err)
		}
	})

	t.Run("a claimed row is claimed again only when its lease has run out, with a later lease", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		m := queueMail(t, queueT0)
		f.Enqueue(t, m)
		first := claimOne(t, f, queueT0)
		for _, at := range []time.Time{queueT0, queueT0.Add(queueLease - time.Microsecond)} {
			if got, err := f.Queue.Claim(ctx, at, 10, queueLease); err != nil || len(got) != 0 {
				t.Fatalf("Claim at %v, within the lease: got %d rows, error %v; want none", at, len(got), err)
			}
		}
		second := claimOne(t, f, queueT0.Add(queueLease))
		if second.Claim.ID != m.ID || !second.Claim.LockedUntil.After(first.Claim.LockedUntil) {
			t.Errorf("second claim: got %+v, want row %s with a lease after %v", second.Claim, m.ID, first.Claim.LockedUntil)
		}
	})

	t.Run("MarkSent makes the row sent for good with its attempts, time and new payload", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		m := queueMail(t, queueT0)
		f.Enqueue(t, m)
		d := claimOne(t, f, queueT0)
		scrubbed := domain.ScrubMailPayload(m.Payload)
		sentAt := queueT0.Add(3 * time.Second)
		if err := f.Queue.MarkSent(ctx, d.Claim, 1, sentAt, scrubbed); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		want := QueueRow{Status: domain.OutboxSent, Attempts: 1, NextAttemptAt: queueT0, SentAt: &sentAt, Payload: scrubbed}
		if diff := cmp.Diff(f.Row(t, m.ID), want, queueOpts); diff != "" {
			t.Errorf("row differs (-got +want):\n%s", diff)
		}
		noClaim(t, f, queueT0.Add(24*time.Hour))
	})

	t.Run("MarkSent without a payload keeps the payload", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		m := queueEvent(t, queueT0)
		f.Enqueue(t, m)
		d := claimOne(t, f, queueT0)
		if err := f.Queue.MarkSent(ctx, d.Claim, 1, queueT0, nil); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		if got := f.Row(t, m.ID); !jsonEqual(got.Payload, m.Payload) {
			t.Errorf("payload: got %s, want %s", got.Payload, m.Payload)
		}
	})

	t.Run("MarkRetry ends the claim and makes the row due at next with its attempts and last error", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		m := queueMail(t, queueT0)
		f.Enqueue(t, m)
		d := claimOne(t, f, queueT0)
		next := queueT0.Add(10 * time.Second)
		if err := f.Queue.MarkRetry(ctx, d.Claim, 3, next, "status 503 from the provider"); err != nil {
			t.Fatalf("MarkRetry: %v", err)
		}
		want := QueueRow{Status: domain.OutboxPending, Attempts: 3, NextAttemptAt: next, LastError: "status 503 from the provider", Payload: m.Payload}
		if diff := cmp.Diff(f.Row(t, m.ID), want, queueOpts); diff != "" {
			t.Errorf("row differs (-got +want):\n%s", diff)
		}
		noClaim(t, f, next.Add(-time.Microsecond))
		again := claimOne(t, f, next)
		if again.Attempts != 3 {
			t.Errorf("claimed again: got attempts %d, want 3", again.Attempts)
		}
	})

	t.Run("MarkDead parks the row for good with its last error and new payload", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		m := queueMail(t, queueT0)
		f.Enqueue(t, m)
		d := claimOne(t, f, queueT0)
		if err := f.Queue.MarkDead(ctx, d.Claim, 12, "status 422 from the provider", []byte(`{}`)); err != nil {
			t.Fatalf("MarkDead: %v", err)
		}
		want := QueueRow{Status: domain.OutboxDead, Attempts: 12, NextAttemptAt: queueT0, LastError: "status 422 from the provider", Payload: []byte(`{}`)}
		if diff := cmp.Diff(f.Row(t, m.ID), want, queueOpts); diff != "" {
			t.Errorf("row differs (-got +want):\n%s", diff)
		}
		noClaim(t, f, queueT0.Add(365*24*time.Hour))
	})

	t.Run("an outcome for a claim that is no longer current is refused as claim lost and changes nothing", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		m := queueMail(t, queueT0)
		f.Enqueue(t, m)
		stale := claimOne(t, f, queueT0)
		current := claimOne(t, f, queueT0.Add(queueLease))
		before := f.Row(t, m.ID)
		for name, mark := range map[string]func(domain.OutboxClaim) error{
			"MarkSent":  func(c domain.OutboxClaim) error { return f.Queue.MarkSent(ctx, c, 1, queueT0, []byte(`{}`)) },
			"MarkRetry": func(c domain.OutboxClaim) error { return f.Queue.MarkRetry(ctx, c, 1, queueT0, "x") },
			"MarkDead":  func(c domain.OutboxClaim) error { return f.Queue.MarkDead(ctx, c, 1, "x", []byte(`{}`)) },
		} {
			wantClaimLost(t, name+" with the stale claim", mark(stale.Claim))
			wantClaimLost(t, name+" of an unknown row", mark(domain.OutboxClaim{ID: queueID(t), LockedUntil: current.Claim.LockedUntil}))
		}
		if diff := cmp.Diff(f.Row(t, m.ID), before, queueOpts); diff != "" {
			t.Errorf("row changed by refused outcomes (-got +want):\n%s", diff)
		}
		if err := f.Queue.MarkSent(ctx, current.Claim, 2, queueT0, nil); err != nil {
			t.Fatalf("MarkSent with the current claim: %v", err)
		}
		wantClaimLost(t, "MarkRetry after MarkSent", f.Queue.MarkRetry(ctx, current.Claim, 3, queueT0, "x"))
		if got := f.Row(t, m.ID); got.Status != domain.OutboxSent || got.Attempts != 2 {
			t.Errorf("row: got status %s, attempts %d; want sent, 2", got.Status, got.Attempts)
		}
	})

	t.Run("Release makes current claims due at once without counting an attempt and skips stale ones", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		a, b := queueMail(t, queueT0), queueEvent(t, queueT0)
		f.Enqueue(t, a, b)
		claims, err := f.Queue.Claim(ctx, queueT0, 10, queueLease)
		if err != nil || len(claims) != 2 {
			t.Fatalf("Claim: got %d rows, error %v; want 2", len(claims), err)
		}
		if err := f.Queue.Release(ctx, []domain.OutboxClaim{claims[0].Claim, claims[1].Claim}); err != nil {
			t.Fatalf("Release: %v", err)
		}
		later := queueT0.Add(time.Second)
		again, err := f.Queue.Claim(ctx, later, 10, queueLease)
		if err != nil || len(again) != 2 || again[0].Attempts != 0 || again[1].Attempts != 0 {
			t.Fatalf("Claim after Release: got %+v, error %v; want both rows with 0 attempts", again, err)
		}
		// again's claims are current; claims' are stale and must not free the rows.
		if err := f.Queue.Release(ctx, []domain.OutboxClaim{claims[0].Claim}); err != nil {
			t.Fatalf("Release of a stale claim: %v", err)
		}
		noClaim(t, f, later)
	})

	t.Run("concurrent claims never hand out one row twice", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		const rows, claimers = 120, 6
		var want []string
		var msgs []domain.OutboxMessage
		for i := range rows {
			m := queueMail(t, queueT0.Add(time.Duration(i)*time.Millisecond))
			msgs = append(msgs, m)
			want = append(want, m.ID)
		}
		f.Enqueue(t, msgs...)
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range claimers {
			wg.Go(func() {
				for {
					ds, err := f.Queue.Claim(ctx, queueT0.Add(time.Minute), 7, queueLease)
					if err != nil {
						t.Errorf("Claim: %v", err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						got = append(got, d.Message.ID)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		slices.Sort(want)
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("claimed ids differ from the enqueued ones (-got +want):\n%s", d)
		}
	})

	t.Run("Stats counts pending and due rows per kind and how long the oldest due row has waited", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		now := queueT0.Add(time.Hour)
		oldMail, newMail, futureMail := queueMail(t, queueT0), queueMail(t, queueT0.Add(30*time.Minute)), queueMail(t, now.Add(time.Minute))
		claimedMail, sentMail := queueMail(t, queueT0.Add(-time.Hour)), queueMail(t, queueT0.Add(-2*time.Hour))
		event, deadEvent := queueEvent(t, now.Add(-time.Second)), queueEvent(t, queueT0.Add(-3*time.Hour))
		f.Enqueue(t, sentMail, deadEvent, claimedMail)
		settle := claimAll(t, f, queueT0, 3)
		for _, d := range settle {
			var err error
			switch d.Message.ID {
			case sentMail.ID:
				err = f.Queue.MarkSent(ctx, d.Claim, 1, queueT0, nil)
			case deadEvent.ID:
				err = f.Queue.MarkDead(ctx, d.Claim, 1, "x", nil)
			}
			if err != nil {
				t.Fatalf("settling %s: %v", d.Message.ID, err)
			}
		}
		f.Enqueue(t, oldMail, newMail, futureMail, event)
		got, err := f.Queue.Stats(ctx, now)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		// claimedMail is held until queueT0+lease, before now: due again.
		want := map[domain.OutboxKind]domain.OutboxDepth{
			domain.OutboxMail:  {Pending: 4, Due: 3, OldestDue: 2 * time.Hour},
			domain.OutboxEvent: {Pending: 1, Due: 1, OldestDue: time.Second},
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("Stats at %v differ (-got +want):\n%s", now, d)
		}
		claimAll(t, f, now, 4) // every due row, now held
		got, err = f.Queue.Stats(ctx, now)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		want = map[domain.OutboxKind]domain.OutboxDepth{
			domain.OutboxMail:  {Pending: 4},
			domain.OutboxEvent: {Pending: 1},
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Errorf("Stats with every due row claimed differ (-got +want):\n%s", d)
		}
	})

	t.Run("a done context is a KindUnavailable error", func(t *testing.T) {
		t.Parallel()
		f := newQueue(t)
		done, cancel := context.WithCancel(ctx)
		cancel()
		_, err := f.Queue.Claim(done, queueT0, 1, queueLease)
		if !domain.IsKind(err, domain.KindUnavailable) {
			t.Errorf("Claim with a done context: got %v, want a KindUnavailable error", err)
		}
	})
}

// queueOpts compares times as instants and payloads as JSON values.
var queueOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && sf.Name() == "Payload"
	}, cmp.Comparer(jsonEqual)),
}

func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	return cmp.Equal(va, vb)
}

func queueID(t *testing.T) string {
	t.Helper()
	id, err := domain.NewID(queueT0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// queueMail returns a mail row written (and due) at at, with a link in its
// bodies.
func queueMail(t *testing.T, at time.Time) domain.OutboxMessage {
	t.Helper()
	id := queueID(t)
	m, err := domain.NewMailOutbox("verify_email", domain.MailMessage{
		ID: id, To: "zoe@example.com", Subject: "Confirm your email address",
		Text: "Open https://app.example.com/verify-email#token=secret-" + id + "\n",
		HTML: `<p><a href="https://app.example.com/verify-email#token=secret-` + id + `">Confirm</a></p>`,
	}, at)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// queueEvent returns an event row written (and due) at at.
func queueEvent(t *testing.T, at time.Time) domain.OutboxMessage {
	t.Helper()
	id := queueID(t)
	m, err := domain.NewEventOutbox(domain.Event{ID: id, Type: "user.registered", Version: 1, OccurredAt: at,
		Detail: []byte(fmt.Sprintf(`{"user_id":%q}`, id))})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func claimOne(t *testing.T, f QueueFixture, now time.Time) domain.OutboxDelivery {
	t.Helper()
	return claimAll(t, f, now, 1)[0]
}

// claimAll claims at now and insists on exactly n rows.
func claimAll(t *testing.T, f QueueFixture, now time.Time, n int) []domain.OutboxDelivery {
	t.Helper()
	got, err := f.Queue.Claim(context.Background(), now, 100, queueLease)
	if err != nil || len(got) != n {
		t.Fatalf("Claim at %v: got %d rows, error %v; want %d", now, len(got), err, n)
	}
	return got
}

func noClaim(t *testing.T, f QueueFixture, now time.Time) {
	t.Helper()
	got, err := f.Queue.Claim(context.Background(), now, 100, queueLease)
	if err != nil || len(got) != 0 {
		t.Fatalf("Claim at %v: got %d rows, error %v; want none", now, len(got), err)
	}
}

func wantClaimLost(t *testing.T, call string, err error) {
	t.Helper()
	if !domain.IsKind(err, domain.KindConflict) || domain.CodeOf(err) != ports.CodeClaimLost {
		t.Errorf("%s: got %v, want a KindConflict error with code %s", call, err, ports.CodeClaimLost)
	}
}
