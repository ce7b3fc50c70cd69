package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var dispatchT0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// recordingObserver counts attempts per kind and result.
type recordingObserver struct {
	mu     sync.Mutex
	counts map[string]int
}

func (o *recordingObserver) Attempted(kind domain.OutboxKind, result domain.DeliveryResult, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[string(kind)+"/"+string(result)]++
}

func (o *recordingObserver) snapshot() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for k, v := range o.counts {
		out[k] = v
	}
	return out
}

// logBuffer collects JSON log lines from concurrent writers.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the decoded log records whose message starts with msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m, _ := rec["msg"].(string); strings.HasPrefix(m, msg) {
			out = append(out, rec)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type dispatchFixture struct {
	store  *inmem.Store
	queue  *inmem.OutboxQueue
	mailer *inmem.Mailer
	events *inmem.EventPublisher
	clock  *inmem.Clock
	obs    *recordingObserver
	logs   *logBuffer
	cfg    app.DispatcherConfig
	d      *app.Dispatcher
}

// testDispatcherConfig is the default configuration with a short poll.
func testDispatcherConfig() app.DispatcherConfig {
	cfg := app.DefaultDispatcherConfig()
	cfg.PollInterval = time.Millisecond
	return cfg
}

// newDispatchFixture builds a dispatcher over an in-memory outbox; mailer,
// when not nil, replaces the in-memory one.
func newDispatchFixture(t *testing.T, cfg app.DispatcherConfig, mailer ports.Mailer) *dispatchFixture {
	t.Helper()
	store := inmem.NewStore()
	f := &dispatchFixture{
		store: store, queue: inmem.NewOutboxQueue(store), mailer: inmem.NewMailer(), events: inmem.NewEventPublisher(),
		clock: inmem.NewClock(dispatchT0), obs: &recordingObserver{}, logs: &logBuffer{}, cfg: cfg,
	}
	if mailer == nil {
		mailer = f.mailer
	}
	f.d = f.dispatcher(t, f.queue, mailer)
	return f
}

// dispatcher returns another dispatcher of the fixture, over queue and
// mailer.
func (f *dispatchFixture) dispatcher(t *testing.T, queue ports.OutboxQueue, mailer ports.Mailer) *app.Dispatcher {
	t.Helper()
	d, err := app.NewDispatcher(app.DispatcherPorts{Queue: queue, Mailer: mailer, Events: f.events, Clock: f.clock, Observer: f.obs},
		f.cfg, slog.New(slog.NewJSONHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mail enqueues a mail whose bodies carry a secret link and returns it.
func (f *dispatchFixture) mail(t *testing.T) domain.MailMessage {
	t.Helper()
	id := newTestID(t)
	msg := domain.MailMessage{
		ID: id, To: "zoe+" + id[:8] + "@example.com", Subject: "Confirm your email address",
		Text: "Open https://app.example.com/verify-email#token=SECRET" + id + "\n",
		HTML: `<a href="https://app.example.com/verify-email#token=SECRET` + id + `">Confirm</a>`,
	}
	m, err := domain.NewMailOutbox(app.TemplateVerifyEmail, msg, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return msg
}

// event enqueues a user.registered event and returns it.
func (f *dispatchFixture) event(t *testing.T) domain.Event {
	t.Helper()
	id := newTestID(t)
	ev := domain.Event{ID: id, Type: app.EventUserRegistered, Version: 1, OccurredAt: f.clock.Now(), Detail: []byte(`{"user_id":"` + id + `"}`)}
	m, err := domain.NewEventOutbox(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Enqueue(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (f *dispatchFixture) row(t *testing.T, id string) inmem.OutboxRow {
	t.Helper()
	r, ok := f.queue.Row(id)
	if !ok {
		t.Fatalf("no outbox row %s", id)
	}
	return r
}

func (f *dispatchFixture) runOnce(t *testing.T) app.DispatchResult {
	t.Helper()
	res, err := f.d.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return res
}

// checkNoSecretsLogged fails when a log line holds a link, a token, a
// body or a recipient.
func (f *dispatchFixture) checkNoSecretsLogged(t *testing.T) {
	t.Helper()
	for _, bad := range []string{"SECRET", "token=", "example.com", "Confirm"} {
		if strings.Contains(f.logs.String(), bad) {
			t.Errorf("the logs contain %q:\n%s", bad, f.logs.String())
		}
	}
}

var idSeq struct {
	mu sync.Mutex
	n  int
}

// newTestID returns a fresh UUID.
func newTestID(t *testing.T) string {
	t.Helper()
	idSeq.mu.Lock()
	idSeq.n++
	n := idSeq.n
	idSeq.mu.Unlock()
	return fmt.Sprintf("0194d6a0-0000-7000-8000-%012x", n)
}

func TestDispatcherDeliversMailAndEventsOnceAndScrubsMail(t *testing.T) {
	t.Parallel()
	f := newDispatchFixture(t, testDispatcherConfig(), nil)
	mails := []domain.MailMessage{f.mail(t), f.mail(t), f.mail(t)}
	events := []domain.Event{f.event(t), f.event(t)}

	res := f.runOnce(t)
	if want := (app.DispatchResult{Claimed: 5, Sent: 5}); res != want {
		t.Errorf("RunOnce: got %+v, want %+v", res, want)
	}
	if d := cmp.Diff(sortedByID(f.mailer.Sent()), sortedByID(mails)); d != "" {
		t.Errorf("mail sent differs (-got +want):\n%s", d)
	}
	gotEvents := f.events.Published()
	if len(gotEvents) != 2 || gotEvents[0].ID != events[0].ID || gotEvents[1].ID != events[1].ID {
		t.Errorf("events published: got %+v, want %s and %s", gotEvents, events[0].ID, events[1].ID)
	}
	for _, m := range mails {
		r := f.row(t, m.ID)
		if r.Status != domain.OutboxSent || r.Attempts != 1 || r.SentAt == nil || !r.SentAt.Equal(dispatchT0) {
			t.Errorf("mail row %s: got status %s, attempts %d, sent at %v; want sent, 1, %v", m.ID, r.Status, r.Attempts, r.SentAt, dispatchT0)
		}
		var kept domain.MailMessage
		if err := json.Unmarshal(r.Message.Payload, &kept); err != nil {
			t.Fatal(err)
		}
		if want := (domain.MailMessage{ID: m.ID, To: m.To, Subject: m.Subject}); kept != want {
			t.Errorf("mail row %s payload after sending: got %+v, want %+v (no bodies)", m.ID, kept, want)
		}
	}
	for _, e := range events {
		if r := f.row(t, e.ID); r.Status != domain.OutboxSent || !strings.Contains(string(r.Message.Payload), e.ID) {
			t.Errorf("event row %s: got status %s, payload %s; want sent with the event kept", e.ID, r.Status, r.Message.Payload)
		}
	}
	if d := cmp.Diff(f.obs.snapshot(), map[string]int{"mail/sent": 3, "event/sent": 2}); d != "" {
		t.Errorf("observed attempts differ (-got +want):\n%s", d)
	}
	if got := len(f.logs.lines(t, "outbox delivery attempt")); got != 5 {
		t.Errorf("got %d delivery log lines, want one per attempt (5)", got)
	}
	f.checkNoSecretsLogged(t)

	if res := f.runOnce(t); res != (app.DispatchResult{}) {
		t.Errorf("second RunOnce: got %+v, want nothing claimed", res)
	}
	if got := len(f.mailer.Sent()); got != 3 {
		t.Errorf("after a second pass: %d mails sent, want still 3", got)
	}
}

func sortedByID(msgs []domain.MailMessage) []domain.MailMessage {
	out := slices.Clone(msgs)
	slices.SortFunc(out, func(a, b domain.MailMessage) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func TestDispatcherMailFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		maxAttempts int
		fail        int
		kind        domain.Kind
		wantStatus  domain.OutboxStatus
		wantTries   int // attempts recorded on the row at the end
		wantSent    int
		wantObs     map[string]int
	}{
		{"a provider outage is retried with growing waits and the mail then goes out once", 12, 3, domain.KindUnavailable,
			domain.OutboxSent, 4, 1, map[string]int{"mail/retried": 3, "mail/sent": 1}},
		{"a message the provider rejects is dead at once", 12, 1, domain.KindInvalid,
			domain.OutboxDead, 1, 0, map[string]int{"mail/dead": 1}},
		{"a message that keeps failing is dead after the last attempt", 3, 10, domain.KindUnavailable,
			domain.OutboxDead, 3, 0, map[string]int{"mail/retried": 2, "mail/dead": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testDispatcherConfig()
			cfg.Retry.MaxAttempts = tc.maxAttempts
			f := newDispatchFixture(t, cfg, nil)
			m := f.mail(t)
			f.mailer.FailNext(tc.fail, tc.kind)

			var lastWait time.Duration
			for pass := 1; pass <= 20; pass++ {
				f.runOnce(t)
				r := f.row(t, m.ID)
				if r.Status != domain.OutboxPending {
					break
				}
				wait := r.NextAttemptAt.Sub(f.clock.Now())
				ceiling := cfg.Retry.BaseDelay << (pass - 1)
				if r.Attempts != pass || wait < ceiling/2 || wait > ceiling || r.LastError == "" || r.LockedUntil != nil {
					t.Fatalf("after pass %d: got attempts %d, wait %v, last error %q, locked %v; want %d, a wait in [%v, %v], an error, no claim",
						pass, r.Attempts, wait, r.LastError, r.LockedUntil, pass, ceiling/2, ceiling)
				}
				if pass > 1 && wait <= lastWait {
					t.Errorf("pass %d: wait %v did not grow from %v", pass, wait, lastWait)
				}
				lastWait = wait
				if res := f.runOnce(t); res.Claimed != 0 {
					t.Fatalf("pass %d: the row was claimed again before its time: %+v", pass, res)
				}
				f.clock.Advance(wait)
			}
			r := f.row(t, m.ID)
			if r.Status != tc.wantStatus || r.Attempts != tc.wantTries {
				t.Errorf("final row: got status %s after %d attempts, want %s after %d", r.Status, r.Attempts, tc.wantStatus, tc.wantTries)
			}
			if tc.wantStatus == domain.OutboxDead {
				if !strings.Contains(r.LastError, "injected mail failure") {
					t.Errorf("dead row's last error: got %q, want the provider's error", r.LastError)
				}
				if strings.Contains(string(r.Message.Payload), "SECRET") {
					t.Errorf("dead row still holds the link: %s", r.Message.Payload)
				}
			}
			if got := len(f.mailer.Sent()); got != tc.wantSent {
				t.Errorf("provider accepted %d messages, want %d", got, tc.wantSent)
			}
			if d := cmp.Diff(f.obs.snapshot(), tc.wantObs); d != "" {
				t.Errorf("observed attempts differ (-got +want):\n%s", d)
			}
			if got := len(f.logs.lines(t, "outbox delivery attempt")); got != tc.wantTries {
				t.Errorf("got %d delivery log lines, want one per attempt (%d)", got, tc.wantTries)
			}
			f.checkNoSecretsLogged(t)
		})
	}
}

func TestDispatcherEventFailuresAreSettledPerEvent(t *testing.T) {
	t.Parallel()
	f := newDispatchFixture(t, testDispatcherConfig(), nil)
	e1, e2, e3, e4 := f.event(t), f.event(t), f.event(t), f.event(t)
	f.events.FailEvent(e2.ID, domain.KindUnavailable, 1)
	f.events.FailEvent(e3.ID, domain.KindInvalid, 1)

	if res, want := f.runOnce(t), (app.DispatchResult{Claimed: 4, Sent: 2, Retried: 1, Dead: 1}); res != want {
		t.Errorf("first pass: got %+v, want %+v", res, want)
	}
	f.clock.Advance(time.Hour)
	if res, want := f.runOnce(t), (app.DispatchResult{Claimed: 1, Sent: 1}); res != want {
		t.Errorf("second pass: got %+v, want %+v", res, want)
	}
	var got []string
	for _, e := range f.events.Published() {
		got = append(got, e.ID)
	}
	if d := cmp.Diff(got, []string{e1.ID, e4.ID, e2.ID}); d != "" {
		t.Errorf("published events differ (-got +want):\n%s", d)
	}
	for id, want := range map[string]domain.OutboxStatus{e1.ID: domain.OutboxSent, e2.ID: domain.OutboxSent, e3.ID: domain.OutboxDead, e4.ID: domain.OutboxSent} {
		if r := f.row(t, id); r.Status != want {
			t.Errorf("row %s: got %s, want %s", id, r.Status, want)
		}
	}
}

func TestDispatcherPoisonRowsDoNotBlockOthers(t *testing.T) {
	t.Parallel()
	f := newDispatchFixture(t, testDispatcherConfig(), nil)
	ctx := context.Background()
	badMail := domain.OutboxMessage{ID: newTestID(t), Kind: domain.OutboxMail, Topic: "verify_email", Payload: []byte(`{"ID":42,"Text":"#token=SECRET"}`), CreatedAt: dispatchT0}
	badEvent := domain.OutboxMessage{ID: newTestID(t), Kind: domain.OutboxEvent, Topic: "user.registered", Payload: []byte(`["not an event"]`), CreatedAt: dispatchT0}
	invalidMail := domain.OutboxMessage{ID: newTestID(t), Kind: domain.OutboxMail, Topic: "verify_email", Payload: []byte(`{"ID":"x","To":"","Subject":"s","Text":"#token=SECRET"}`), CreatedAt: dispatchT0}
	if err := f.store.Enqueue(ctx, badMail, badEvent, invalidMail); err != nil {
		t.Fatal(err)
	}
	good, goodEvent := f.mail(t), f.event(t)

	if res, want := f.runOnce(t), (app.DispatchResult{Claimed: 5, Sent: 2, Dead: 3}); res != want {
		t.Errorf("RunOnce: got %+v, want %+v", res, want)
	}
	for _, id := range []string{badMail.ID, badEvent.ID, invalidMail.ID} {
		r := f.row(t, id)
		if r.Status != domain.OutboxDead || r.Attempts != 1 || r.LastError == "" || strings.Contains(string(r.Message.Payload), "SECRET") {
			t.Errorf("poison row %s: got status %s, attempts %d, last error %q, payload %s; want dead after 1, an error, no secret",
				id, r.Status, r.Attempts, r.LastError, r.Message.Payload)
		}
	}
	if r1, r2 := f.row(t, good.ID), f.row(t, goodEvent.ID); r1.Status != domain.OutboxSent || r2.Status != domain.OutboxSent {
		t.Errorf("good rows: got %s and %s, want both sent", r1.Status, r2.Status)
	}
	f.checkNoSecretsLogged(t)
}

// forgetfulQueue loses every MarkSent, as a dispatcher that crashes between
// the provider's answer and recording it would.
type forgetfulQueue struct {
	ports.OutboxQueue
}

func (forgetfulQueue) MarkSent(context.Context, domain.OutboxClaim, int, time.Time, []byte) error {
	return domain.Wrap(domain.KindUnavailable, "test", fmt.Errorf("crashed before recording"))
}

func TestDispatcherCrashAfterSendRedeliversWithTheSameID(t *testing.T) {
	t.Parallel()
	f := newDispatchFixture(t, testDispatcherConfig(), nil)
	m := f.mail(t)
	crashing := f.dispatcher(t, forgetfulQueue{f.queue}, f.mailer)
	if res, err := crashing.RunOnce(context.Background()); err != nil || res.Unrecorded != 1 {
		t.Fatalf("crashing RunOnce: got %+v, %v; want one unrecorded outcome", res, err)
	}
	if r := f.row(t, m.ID); r.Status != domain.OutboxPending || r.LockedUntil == nil {
		t.Fatalf("after the crash: got status %s, locked %v; want pending and still claimed", r.Status, r.LockedUntil)
	}
	if res := f.runOnce(t); res.Claimed != 0 {
		t.Fatalf("within the lease the row was claimed again: %+v", res)
	}
	f.clock.Advance(f.cfg.Lease)
	if res := f.runOnce(t); res.Sent != 1 {
		t.Fatalf("after the lease: got %+v, want the row sent", res)
	}
	sent := f.mailer.Sent()
	if len(sent) != 2 || sent[0].ID != m.ID || sent[1].ID != m.ID {
		t.Errorf("provider received %+v, want message %s twice (same idempotency key)", sent, m.ID)
	}
}

// gateMailer blocks every Send until released or its context is done.
type gateMailer struct {
	started chan string
	release chan struct{}
	inner   ports.Mailer
}

func (g *gateMailer) Send(ctx context.Context, msg domain.MailMessage) error {
	g.started <- msg.ID
	select {
	case <-g.release:
		return g.inner.Send(ctx, msg)
	case <-ctx.Done():
		return domain.Wrap(domain.KindUnavailable, "gateMailer", ctx.Err())
	}
}

func TestDispatcherRunStopsCleanly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		grace        time.Duration
		release      bool // let the send in flight finish
		wantInFlight domain.OutboxStatus
		wantAttempts int
	}{
		{"the send in flight finishes and is recorded; the rest are released", time.Minute, true, domain.OutboxSent, 1},
		{"a send that outlasts the grace is cancelled and retried later; the rest are released", time.Millisecond, false, domain.OutboxPending, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testDispatcherConfig()
			cfg.Concurrency = 1
			cfg.ShutdownGrace = tc.grace
			gate := &gateMailer{started: make(chan string, 10), release: make(chan struct{})}
			f := newDispatchFixture(t, cfg, gate)
			gate.inner = f.mailer
			var mails []domain.MailMessage
			for range 5 {
				mails = append(mails, f.mail(t))
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- f.d.Run(ctx) }()
			inFlight := <-gate.started
			cancel()
			if tc.release {
				close(gate.release)
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: got %v, want nil", err)
			}
			for _, m := range mails {
				r := f.row(t, m.ID)
				if m.ID == inFlight {
					if r.Status != tc.wantInFlight || r.Attempts != tc.wantAttempts || r.LockedUntil != nil {
						t.Errorf("row in flight: got %s after %d attempts, locked %v; want %s after %d, not locked",
							r.Status, r.Attempts, r.LockedUntil, tc.wantInFlight, tc.wantAttempts)
					}
					continue
				}
				if r.Status != domain.OutboxPending || r.Attempts != 0 || r.LockedUntil != nil {
					t.Errorf("row not attempted: got %s after %d attempts, locked %v; want pending, 0, released", r.Status, r.Attempts, r.LockedUntil)
				}
			}
			if len(gate.started) != 0 {
				t.Errorf("%d more sends started after the stop", len(gate.started))
			}
		})
	}
}

func TestDispatcherRunDeliversEverythingAcrossBatches(t *testing.T) {
	t.Parallel()
	cfg := testDispatcherConfig()
	cfg.BatchSize = 7
	f := newDispatchFixture(t, cfg, nil)
	const n = 50
	for i := range n {
		if i%5 == 0 {
			f.event(t)
		} else {
			f.mail(t)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.d.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for len(f.mailer.Sent())+len(f.events.Published()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: got %v, want nil", err)
	}
	if got := len(f.mailer.Sent()) + len(f.events.Published()); got != n {
		t.Errorf("delivered %d messages, want %d", got, n)
	}
	for _, r := range f.queue.Rows() {
		if r.Status != domain.OutboxSent {
			t.Errorf("row %s: got %s, want sent", r.Message.ID, r.Status)
		}
	}
}

// slowMailer advances the clock by a fixed step on every send.
type slowMailer struct {
	clock *inmem.Clock
	step  time.Duration
	inner ports.Mailer
}

func (s slowMailer) Send(ctx context.Context, msg domain.MailMessage) error {
	s.clock.Advance(s.step)
	return s.inner.Send(ctx, msg)
}

func TestDispatcherDoesNotStartAnAttemptItsLeaseCannotCover(t *testing.T) {
	t.Parallel()
	cfg := testDispatcherConfig()
	cfg.Concurrency = 1
	cfg.AttemptTimeout = 10 * time.Second
	cfg.Lease = 25 * time.Second
	f := newDispatchFixture(t, cfg, nil)
	f.d = f.dispatcher(t, f.queue, slowMailer{clock: f.clock, step: 10 * time.Second, inner: f.mailer})
	for range 4 {
		f.mail(t)
	}
	// Sends at +0s and +10s fit; at +20s the attempt could end after the
	// lease (+25s): the remaining rows go back to the queue unattempted.
	if res, want := f.runOnce(t), (app.DispatchResult{Claimed: 4, Sent: 2, Released: 2}); res != want {
		t.Errorf("RunOnce: got %+v, want %+v", res, want)
	}
	if res, want := f.runOnce(t), (app.DispatchResult{Claimed: 2, Sent: 2}); res != want {
		t.Errorf("next RunOnce: got %+v, want %+v", res, want)
	}
}

func TestNewDispatcherRefusesUnworkableSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*app.DispatcherConfig)
	}{
		{"no batch", func(c *app.DispatcherConfig) { c.BatchSize = 0 }},
		{"no concurrency", func(c *app.DispatcherConfig) { c.Concurrency = 0 }},
		{"no poll interval", func(c *app.DispatcherConfig) { c.PollInterval = 0 }},
		{"a lease no longer than an attempt", func(c *app.DispatcherConfig) { c.Lease = c.AttemptTimeout }},
		{"no retry attempts", func(c *app.DispatcherConfig) { c.Retry.MaxAttempts = 0 }},
	}
	store := inmem.NewStore()
	p := app.DispatcherPorts{Queue: inmem.NewOutboxQueue(store), Mailer: inmem.NewMailer(), Events: inmem.NewEventPublisher(), Clock: inmem.NewClock(dispatchT0)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := app.DefaultDispatcherConfig()
			tc.mutate(&cfg)
			if _, err := app.NewDispatcher(p, cfg, nil); !domain.IsKind(err, domain.KindInvalid) {
				t.Errorf("NewDispatcher: got %v, want a KindInvalid error", err)
			}
		})
	}
	if _, err := app.NewDispatcher(p, app.DefaultDispatcherConfig(), nil); err != nil {
		t.Errorf("NewDispatcher with the defaults: got %v, want nil", err)
	}
}

// instantMailer accepts every valid message at once and keeps nothing.
type instantMailer struct{}

func (instantMailer) Send(_ context.Context, msg domain.MailMessage) error { return msg.Validate() }

// BenchmarkDispatcher reports the dispatcher's own throughput over the
// in-memory outbox against a provider that answers at once.
func BenchmarkDispatcher(b *testing.B) {
	store := inmem.NewStore()
	queue := inmem.NewOutboxQueue(store)
	clock := inmem.NewClock(dispatchT0)
	cfg := app.DefaultDispatcherConfig()
	d, err := app.NewDispatcher(app.DispatcherPorts{Queue: queue, Mailer: instantMailer{}, Events: inmem.NewEventPublisher(), Clock: clock},
		cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range b.N {
		id := fmt.Sprintf("0194d6a0-0000-7000-8000-%012x", i)
		m, err := domain.NewMailOutbox("verify_email", domain.MailMessage{ID: id, To: "a@example.com", Subject: "s", Text: "t", HTML: "<p>t</p>"}, dispatchT0)
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Enqueue(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	res, err := d.Drain(ctx)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil || res.Sent != b.N {
		b.Fatalf("Drain: got %+v, %v; want %d sent", res, err, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rows/s")
}
