package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/adapters/postgres/pgtest"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

// openQueueDB connects to cfg's database as the app role, as the service
// does.
func openQueueDB(t testing.TB, cfg config.DB, conns int) *bun.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), cfg.DatabaseURL(), conns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// enqueueOutbox commits msgs through the accounts store's Enqueue, as the
// use cases do.
func enqueueOutbox(t testing.TB, db *bun.DB, msgs ...domain.OutboxMessage) {
	t.Helper()
	if err := postgres.NewStore(db).Enqueue(context.Background(), msgs...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

// readQueueRow reads one outbox row's delivery state.
func readQueueRow(t testing.TB, db *bun.DB, id string) porttest.QueueRow {
	t.Helper()
	var (
		r              porttest.QueueRow
		status         string
		locked, sentAt sql.NullTime
		lastErr        sql.NullString
	)
	err := db.DB.QueryRowContext(context.Background(),
		`SELECT status, attempts, next_attempt_at, locked_until, last_error, sent_at, payload FROM outbox WHERE id = $1`, id).
		Scan(&status, &r.Attempts, &r.NextAttemptAt, &locked, &lastErr, &sentAt, &r.Payload)
	if err != nil {
		t.Fatalf("reading outbox row %s: %v", id, err)
	}
	r.Status, r.LastError = domain.OutboxStatus(status), lastErr.String
	if locked.Valid {
		r.LockedUntil = &locked.Time
	}
	if sentAt.Valid {
		r.SentAt = &sentAt.Time
	}
	return r
}

// The queue passes the same contract as the in-memory one, as the app role,
// with a database of its own per subtest (a claim takes any due row).
func TestOutboxQueueContract(t *testing.T) {
	t.Parallel()
	porttest.RunOutboxQueue(t, func(t *testing.T) porttest.QueueFixture {
		db := openQueueDB(t, pgtest.NewDB(t), 8)
		return porttest.QueueFixture{
			Queue:   postgres.NewOutboxQueue(db),
			Enqueue: func(t *testing.T, msgs ...domain.OutboxMessage) { enqueueOutbox(t, db, msgs...) },
			Row:     func(t *testing.T, id string) porttest.QueueRow { return readQueueRow(t, db, id) },
		}
	})
}

var queueStart = time.Date(2026, time.April, 1, 12, 0, 0, 0, time.UTC)

// outboxMessages returns n messages written at queueStart, one event for
// every nine mails, with ids numbered from base.
func outboxMessages(t testing.TB, n, base int) []domain.OutboxMessage {
	t.Helper()
	out := make([]domain.OutboxMessage, n)
	for i := range out {
		id := fmt.Sprintf("0195f1a0-0000-7000-8000-%012x", base+i)
		var err error
		if i%10 == 9 {
			out[i], err = domain.NewEventOutbox(domain.Event{ID: id, Type: app.EventUserRegistered, Version: 1, OccurredAt: queueStart,
				Detail: []byte(`{"user_id":"` + id + `"}`)})
		} else {
			out[i], err = domain.NewMailOutbox(app.TemplateVerifyEmail, domain.MailMessage{ID: id, To: "u@example.com", Subject: "Confirm your email address",
				Text: "https://app.example.com/verify-email#token=SECRET", HTML: `<a href="https://app.example.com/verify-email#token=SECRET">Confirm</a>`}, queueStart)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// delivered counts, per id, the mail and events that reached the fakes.
func delivered(mailer *inmem.Mailer, events *inmem.EventPublisher) map[string]int {
	got := map[string]int{}
	for _, m := range mailer.Sent() {
		got[m.ID]++
	}
	for _, e := range events.Published() {
		got[e.ID]++
	}
	return got
}

func countStatus(t testing.TB, db *bun.DB, status domain.OutboxStatus) int {
	t.Helper()
	var n int
	if err := db.DB.QueryRowContext(context.Background(), `SELECT count(*) FROM outbox WHERE status = $1`, string(status)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls until cond holds; the deadline only keeps a broken build
// from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Four dispatchers, each with a pool of its own as separate replicas would
// have, share 1,000 rows, 100 of which a crashed dispatcher had claimed:
// every row is delivered exactly once, the abandoned ones only after their
// lease has run out.
func TestOutboxDispatchersDeliverEachRowExactlyOnce(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDB(t)
	seed := openQueueDB(t, cfg, 2)
	msgs := outboxMessages(t, 1000, 0)
	enqueueOutbox(t, seed, msgs...)

	clock := inmem.NewClock(queueStart.Add(time.Minute))
	dcfg := app.DefaultDispatcherConfig()
	dcfg.BatchSize, dcfg.Concurrency, dcfg.PollInterval = 25, 4, 2*time.Millisecond
	abandoned, err := postgres.NewOutboxQueue(seed).Claim(context.Background(), clock.Now(), 100, dcfg.Lease)
	if err != nil || len(abandoned) != 100 {
		t.Fatalf("the crashed dispatcher's claim: got %d rows, %v; want 100", len(abandoned), err)
	}

	mailer, events := inmem.NewMailer(), inmem.NewEventPublisher()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		d, err := app.NewDispatcher(app.DispatcherPorts{
			Queue: postgres.NewOutboxQueue(openQueueDB(t, cfg, 4)), Mailer: mailer, Events: events, Clock: clock,
		}, dcfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := d.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	waitFor(t, "900 rows sent", func() bool { return countStatus(t, seed, domain.OutboxSent) == 900 })
	for _, d := range abandoned {
		if n := delivered(mailer, events)[d.Message.ID]; n != 0 {
			t.Errorf("row %s, claimed by the crashed dispatcher, was delivered %d times within its lease", d.Message.ID, n)
		}
	}
	clock.Advance(dcfg.Lease)
	waitFor(t, "1000 rows sent", func() bool { return countStatus(t, seed, domain.OutboxSent) == 1000 })
	cancel()
	wg.Wait()

	got := delivered(mailer, events)
	for _, m := range msgs {
		if got[m.ID] != 1 {
			t.Errorf("message %s delivered %d times, want exactly once", m.ID, got[m.ID])
		}
	}
	if len(got) != len(msgs) {
		t.Errorf("%d distinct messages delivered, want %d", len(got), len(msgs))
	}
	if n := countStatus(t, seed, domain.OutboxPending); n != 0 {
		t.Errorf("%d rows still pending, want none", n)
	}
	var secrets int
	if err := seed.DB.QueryRow(`SELECT count(*) FROM outbox WHERE payload::text LIKE '%SECRET%'`).Scan(&secrets); err != nil || secrets != 0 {
		t.Errorf("%d sent rows still hold a link (%v), want none", secrets, err)
	}
}

// forgetfulQueue loses every MarkSent, as a dispatcher that crashes between
// the provider's answer and recording it would.
type forgetfulQueue struct{ ports.OutboxQueue }

func (forgetfulQueue) MarkSent(context.Context, domain.OutboxClaim, int, time.Time, []byte) error {
	return domain.Wrap(domain.KindUnavailable, "test", fmt.Errorf("crashed before recording"))
}

// A dispatcher that dies after the provider accepted a message but before
// recording it leaves the row claimed; once the lease runs out, another
// dispatcher delivers it again under the same id, the provider's
// idempotency key.
func TestOutboxCrashAfterSendRedeliversWithTheSameID(t *testing.T) {
	t.Parallel()
	db := openQueueDB(t, pgtest.NewDB(t), 4)
	msgs := outboxMessages(t, 1, 5000)
	enqueueOutbox(t, db, msgs...)
	clock := inmem.NewClock(queueStart)
	mailer := inmem.NewMailer()
	dispatcher := func(q ports.OutboxQueue) *app.Dispatcher {
		d, err := app.NewDispatcher(app.DispatcherPorts{Queue: q, Mailer: mailer, Events: inmem.NewEventPublisher(), Clock: clock},
			app.DefaultDispatcherConfig(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	queue := postgres.NewOutboxQueue(db)
	if res, err := dispatcher(forgetfulQueue{queue}).RunOnce(context.Background()); err != nil || res.Unrecorded != 1 {
		t.Fatalf("crashing pass: got %+v, %v; want one unrecorded outcome", res, err)
	}
	healthy := dispatcher(queue)
	if res, err := healthy.RunOnce(context.Background()); err != nil || res.Claimed != 0 {
		t.Fatalf("pass within the lease: got %+v, %v; want nothing claimed", res, err)
	}
	clock.Advance(app.DefaultDispatcherConfig().Lease)
	if res, err := healthy.RunOnce(context.Background()); err != nil || res.Sent != 1 {
		t.Fatalf("pass after the lease: got %+v, %v; want the row sent", res, err)
	}
	sent := mailer.Sent()
	if len(sent) != 2 || sent[0].ID != msgs[0].ID || sent[1].ID != msgs[0].ID {
		t.Errorf("provider received %d messages %+v, want %s twice", len(sent), sent, msgs[0].ID)
	}
	if r := readQueueRow(t, db, msgs[0].ID); r.Status != domain.OutboxSent || r.Attempts != 1 {
		t.Errorf("row: %s after %d attempts, want sent after 1", r.Status, r.Attempts)
	}
}

// instantMailer accepts every valid message at once and keeps nothing.
type instantMailer struct{}

func (instantMailer) Send(_ context.Context, msg domain.MailMessage) error { return msg.Validate() }

// instantEvents accepts every event at once and keeps nothing.
type instantEvents struct{}

func (instantEvents) Publish(_ context.Context, events []domain.Event) []error {
	return make([]error, len(events))
}

// BenchmarkOutboxDispatch reports how many rows per second dispatchers move
// through PostgreSQL (claim, deliver, record) against providers that answer
// at once: the dispatcher's own ceiling, not a provider's.
func BenchmarkOutboxDispatch(b *testing.B) {
	for _, replicas := range []int{1, 4} {
		b.Run(fmt.Sprintf("dispatchers=%d", replicas), func(b *testing.B) {
			cfg := pgtest.NewDB(b)
			seed := openQueueDB(b, cfg, 2)
			const chunk = 5000
			for base := 0; base < b.N; base += chunk {
				enqueueOutbox(b, seed, outboxMessages(b, min(chunk, b.N-base), base)...)
			}
			clock := inmem.NewClock(queueStart.Add(time.Minute))
			var ds []*app.Dispatcher
			for range replicas {
				d, err := app.NewDispatcher(app.DispatcherPorts{
					Queue: postgres.NewOutboxQueue(openQueueDB(b, cfg, 8)), Mailer: instantMailer{}, Events: instantEvents{}, Clock: clock,
				}, app.DefaultDispatcherConfig(), slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, d)
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			sent := 0
			for _, d := range ds {
				wg.Go(func() {
					res, err := d.Drain(context.Background())
					if err != nil {
						b.Error(err)
					}
					mu.Lock()
					sent += res.Sent
					mu.Unlock()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if sent != b.N {
				b.Fatalf("sent %d rows, want %d", sent, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
		})
	}
}
