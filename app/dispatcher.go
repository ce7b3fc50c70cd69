package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// markTimeout bounds the recording of one outcome. Outcomes are recorded
// even after the dispatcher was told to stop, so the row is not delivered
// again needlessly; a store that does not answer in time leaves the claim
// to run out, and the row is delivered again then.
const markTimeout = 10 * time.Second

// maxLastErrorBytes bounds the error text kept on a row.
const maxLastErrorBytes = 2000

// maxIdleWait caps the wait between polls after repeated failures to claim.
const maxIdleWait = 30 * time.Second

// DispatcherPorts are the ports the outbox dispatcher needs.
type DispatcherPorts struct {
	Queue  ports.OutboxQueue
	Mailer ports.Mailer
	Events ports.EventPublisher
	Clock  ports.Clock
	// Observer, when not nil, is told about every attempt (metrics).
	Observer ports.OutboxObserver
}

// DispatcherConfig tunes the dispatcher.
type DispatcherConfig struct {
	// BatchSize is the most rows one claim takes.
	BatchSize int
	// Concurrency is the most mail sends in flight at once. Events of a
	// batch go out together in one Publish call, alongside.
	Concurrency int
	// PollInterval is the wait before looking again when a claim found
	// fewer rows than BatchSize. A full batch is followed by the next claim
	// at once.
	PollInterval time.Duration
	// Lease is how long a claim holds its rows. It must outlast
	// AttemptTimeout: a row is not attempted when its lease would run out
	// before the attempt's deadline (it is released for the next claim).
	Lease time.Duration
	// AttemptTimeout bounds one send or one Publish call, on top of the
	// adapters' own timeouts.
	AttemptTimeout time.Duration
	// ShutdownGrace is how long attempts already in flight may run on
	// once the dispatcher is told to stop; then they are cancelled (and
	// count as failed attempts).
	ShutdownGrace time.Duration
	Retry         domain.RetryPolicy
}

// DefaultDispatcherConfig returns settings for a production dispatcher.
func DefaultDispatcherConfig() DispatcherConfig {
	return DispatcherConfig{
		BatchSize:      100,
		Concurrency:    4,
		PollInterval:   time.Second,
		Lease:          5 * time.Minute,
		AttemptTimeout: 45 * time.Second,
		ShutdownGrace:  10 * time.Second,
		Retry:          domain.DefaultRetryPolicy(),
	}
}

// Validate refuses settings with which the dispatcher cannot work.
func (c DispatcherConfig) Validate() error {
	invalid := func(why string) error {
		return &domain.Error{Kind: domain.KindInvalid, Op: "app.DispatcherConfig.Validate", Msg: why}
	}
	switch {
	case c.BatchSize < 1:
		return invalid("batch size must be at least 1")
	case c.Concurrency < 1:
		return invalid("concurrency must be at least 1")
	case c.PollInterval <= 0:
		return invalid("poll interval must be positive")
	case c.AttemptTimeout <= 0:
		return invalid("attempt timeout must be positive")
	case c.Lease <= c.AttemptTimeout:
		return invalid(fmt.Sprintf("the lease (%s) must be longer than the attempt timeout (%s)", c.Lease, c.AttemptTimeout))
	case c.ShutdownGrace < 0:
		return invalid("shutdown grace must not be negative")
	}
	return c.Retry.Validate()
}

// Dispatcher delivers the outbox: it claims due rows, sends mail through
// the mailer and events through the publisher, and records each outcome.
// Delivery is at least once: the outbox id travels with every attempt as
// the message's or event's ID, which providers and consumers use to drop
// duplicates. Any number of dispatchers may run against one queue.
//
// A failed attempt is tried again later with exponential backoff and
// jitter (domain.RetryPolicy), until the policy gives up and the row is
// parked as dead with its last error. A failure of kind domain.KindInvalid
// (the provider refused the message itself, or the row cannot be read) is
// dead at once. Once a mail row is sent or dead, its payload is replaced by
// one without the bodies, which hold the verification and reset links.
//
// Every attempt is logged once, with the row's id, kind, topic, attempt
// number and result, never a recipient, body or link.
type Dispatcher struct {
	ports DispatcherPorts
	cfg   DispatcherConfig
	log   *slog.Logger
	jit   func() float64
}

// NewDispatcher returns a dispatcher over p with settings cfg, logging to
// log.
func NewDispatcher(p DispatcherPorts, cfg DispatcherConfig, log *slog.Logger) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p.Queue == nil || p.Mailer == nil || p.Events == nil || p.Clock == nil {
		return nil, domain.Wrap(domain.KindInternal, "app.NewDispatcher", errors.New("queue, mailer, event publisher and clock are required"))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{ports: p, cfg: cfg, log: log, jit: rand.Float64}, nil
}

// DispatchResult counts what one pass did with the rows it claimed.
type DispatchResult struct {
	Claimed  int
	Sent     int
	Retried  int
	Dead     int
	Released int // claimed but not attempted: stopping, or too close to the lease's end
	// Unrecorded counts attempts whose outcome could not be recorded (the
	// store failed, or the claim was lost); those rows are delivered
	// again once their claim runs out.
	Unrecorded int
}

func (r *DispatchResult) add(o DispatchResult) {
	r.Claimed += o.Claimed
	r.Sent += o.Sent
	r.Retried += o.Retried
	r.Dead += o.Dead
	r.Released += o.Released
	r.Unrecorded += o.Unrecorded
}

// Run dispatches until ctx is done, then returns nil. It claims a batch,
// delivers it, and claims again at once when the batch was full, or after
// the poll interval otherwise (longer, up to half a minute, while claims
// keep failing). When ctx is done, rows not yet attempted are released for
// other dispatchers, attempts in flight get the shutdown grace to finish,
// and their outcomes are recorded before Run returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.InfoContext(ctx, "outbox dispatcher started",
		"batch_size", d.cfg.BatchSize, "concurrency", d.cfg.Concurrency, "poll_interval", d.cfg.PollInterval.String())
	failures := 0
	for {
		res, err := d.RunOnce(ctx)
		if ctx.Err() != nil {
			d.log.Info("outbox dispatcher stopped", "released", res.Released)
			return nil
		}
		wait := d.cfg.PollInterval
		switch {
		case err != nil:
			failures++
			wait = idleWait(d.cfg.PollInterval, failures)
			d.log.WarnContext(ctx, "outbox claim failed", "error", err.Error(), "retry_in", wait.String())
		case res.Claimed >= d.cfg.BatchSize:
			failures = 0
			continue
		default:
			failures = 0
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			d.log.Info("outbox dispatcher stopped", "released", 0)
			return nil
		case <-timer.C:
		}
	}
}

// idleWait doubles the poll interval for each failure in a row, up to
// maxIdleWait.
func idleWait(poll time.Duration, failures int) time.Duration {
	wait := poll
	for i := 0; i < failures && wait < maxIdleWait; i++ {
		wait *= 2
	}
	return min(wait, max(poll, maxIdleWait))
}

// Drain runs passes until one claims less than a full batch or ctx is done,
// and returns what they did together: one sweep of what is due, for a
// scheduled invocation rather than a long-running process.
func (d *Dispatcher) Drain(ctx context.Context) (DispatchResult, error) {
	var total DispatchResult
	for {
		res, err := d.RunOnce(ctx)
		total.add(res)
		if err != nil || ctx.Err() != nil || res.Claimed < d.cfg.BatchSize {
			return total, err
		}
	}
}

// RunOnce claims one batch of due rows and delivers it. The error is the
// claim's; delivery failures are recorded on the rows and counted in the
// result. When ctx is done before or while the batch is delivered, rows not
// yet attempted are released and attempts in flight get the shutdown grace.
func (d *Dispatcher) RunOnce(ctx context.Context) (DispatchResult, error) {
	if ctx.Err() != nil {
		return DispatchResult{}, nil
	}
	rows, err := d.ports.Queue.Claim(ctx, d.ports.Clock.Now(), d.cfg.BatchSize, d.cfg.Lease)
	if err != nil {
		return DispatchResult{}, err
	}
	b := &batch{d: d, stop: ctx, res: DispatchResult{Claimed: len(rows)}}
	work, cancel := graceContext(ctx, d.cfg.ShutdownGrace)
	defer cancel()
	b.work = work

	var mails, events []domain.OutboxDelivery
	for _, row := range rows {
		switch row.Message.Kind {
		case domain.OutboxMail:
			mails = append(mails, row)
		case domain.OutboxEvent:
			events = append(events, row)
		default:
			b.settle(row, &domain.Error{Kind: domain.KindInvalid, Op: "app.Dispatcher", Msg: fmt.Sprintf("unknown outbox kind %q", row.Message.Kind)}, 0, nil)
		}
	}

	var wg sync.WaitGroup
	if len(events) > 0 {
		wg.Go(func() { b.publish(events) })
	}
	queue := make(chan domain.OutboxDelivery)
	for range min(d.cfg.Concurrency, len(mails)) {
		wg.Go(func() {
			for row := range queue {
				b.send(row)
			}
		})
	}
	for _, row := range mails {
		queue <- row
	}
	close(queue)
	wg.Wait()
	b.releaseSkipped()
	return b.result(), nil
}

// graceContext returns a context that is not cancelled with stop but grace
// after it, so attempts in flight when stop is done can finish.
func graceContext(stop context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(stop))
	unregister := context.AfterFunc(stop, func() { time.AfterFunc(grace, cancel) })
	return work, func() {
		unregister()
		cancel()
	}
}

// batch is one pass's rows being delivered.
type batch struct {
	d    *Dispatcher
	stop context.Context // done: attempt nothing new
	work context.Context // attempts in flight run under it

	mu      sync.Mutex
	res     DispatchResult
	skipped []domain.OutboxClaim
}

func (b *batch) result() DispatchResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.res
}

// attemptable reports whether row may be attempted now; if not, it is
// set aside for release.
func (b *batch) attemptable(row domain.OutboxDelivery) bool {
	deadline := b.d.ports.Clock.Now().Add(b.d.cfg.AttemptTimeout)
	if b.stop.Err() == nil && deadline.Before(row.Claim.LockedUntil) {
		return true
	}
	b.mu.Lock()
	b.skipped = append(b.skipped, row.Claim)
	b.mu.Unlock()
	return false
}

func (b *batch) releaseSkipped() {
	b.mu.Lock()
	claims := b.skipped
	b.mu.Unlock()
	if len(claims) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.stop), markTimeout)
	defer cancel()
	if err := b.d.ports.Queue.Release(ctx, claims); err != nil {
		// The claims run out on their own; the rows are late, not lost.
		b.d.log.Warn("outbox release failed", "rows", len(claims), "error", err.Error())
	}
	b.mu.Lock()
	b.res.Released += len(claims)
	b.mu.Unlock()
}

// send delivers one mail row.
func (b *batch) send(row domain.OutboxDelivery) {
	if !b.attemptable(row) {
		return
	}
	start := b.d.ports.Clock.Now()
	msg, err := domain.DecodeMailPayload(row.Message.Payload)
	if err == nil {
		ctx, cancel := context.WithTimeout(b.work, b.d.cfg.AttemptTimeout)
		err = b.d.ports.Mailer.Send(ctx, msg)
		cancel()
	}
	b.settle(row, err, b.d.ports.Clock.Now().Sub(start), domain.ScrubMailPayload)
}

// publish delivers the batch's event rows in one Publish call.
func (b *batch) publish(rows []domain.OutboxDelivery) {
	var live []domain.OutboxDelivery
	var events []domain.Event
	for _, row := range rows {
		if !b.attemptable(row) {
			continue
		}
		ev, err := domain.DecodeEventPayload(row.Message.Payload)
		if err != nil {
			b.settle(row, err, 0, nil)
			continue
		}
		live = append(live, row)
		events = append(events, ev)
	}
	if len(events) == 0 {
		return
	}
	start := b.d.ports.Clock.Now()
	ctx, cancel := context.WithTimeout(b.work, b.d.cfg.AttemptTimeout)
	errs := b.d.ports.Events.Publish(ctx, events)
	cancel()
	elapsed := b.d.ports.Clock.Now().Sub(start)
	for i, row := range live {
		var err error
		if len(errs) != len(events) {
			err = domain.Wrap(domain.KindInternal, "app.Dispatcher", fmt.Errorf("the event publisher returned %d results for %d events", len(errs), len(events)))
		} else {
			err = errs[i]
		}
		b.settle(row, err, elapsed, nil)
	}
}

// settle records the outcome of one attempt at row: sent when err is nil;
// dead when err is of kind domain.KindInvalid or the retry policy gives up;
// due again after a backoff otherwise. scrub, when not nil, makes the
// payload kept on a sent or dead row.
func (b *batch) settle(row domain.OutboxDelivery, err error, elapsed time.Duration, scrub func([]byte) []byte) {
	d := b.d
	attempts := row.Attempts + 1
	now := d.ports.Clock.Now()
	var payload []byte
	if scrub != nil {
		payload = scrub(row.Message.Payload)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.stop), markTimeout)
	defer cancel()

	var result domain.DeliveryResult
	var markErr error
	attrs := []any{
		"outbox_id", row.Message.ID, "kind", string(row.Message.Kind), "topic", row.Message.Topic,
		"attempt", attempts, "elapsed", elapsed.String(),
	}
	switch {
	case err == nil:
		result = domain.DeliverySent
		markErr = d.ports.Queue.MarkSent(ctx, row.Claim, attempts, now, payload)
	case domain.IsKind(err, domain.KindInvalid) || d.cfg.Retry.Exhausted(attempts):
		result = domain.DeliveryDead
		markErr = d.ports.Queue.MarkDead(ctx, row.Claim, attempts, lastError(err), payload)
		attrs = append(attrs, "error", err.Error(), "error_kind", domain.KindOf(err).String())
	default:
		result = domain.DeliveryRetried
		next := now.Add(d.cfg.Retry.Backoff(attempts, d.jit()))
		markErr = d.ports.Queue.MarkRetry(ctx, row.Claim, attempts, next, lastError(err))
		attrs = append(attrs, "error", err.Error(), "error_kind", domain.KindOf(err).String(), "next_attempt_at", next.UTC().Format(time.RFC3339Nano))
	}
	attrs = append(attrs, "result", string(result))
	if d.ports.Observer != nil {
		d.ports.Observer.Attempted(row.Message.Kind, result, elapsed)
	}

	b.mu.Lock()
	switch {
	case markErr != nil:
		b.res.Unrecorded++
	case result == domain.DeliverySent:
		b.res.Sent++
	case result == domain.DeliveryDead:
		b.res.Dead++
	default:
		b.res.Retried++
	}
	b.mu.Unlock()

	switch {
	case markErr != nil:
		attrs = append(attrs, "record_error", markErr.Error())
		if domain.CodeOf(markErr) == ports.CodeClaimLost {
			d.log.Warn("outbox delivery attempt; outcome not recorded: another dispatcher holds the row now", attrs...)
		} else {
			d.log.Error("outbox delivery attempt; outcome not recorded: the row is delivered again when its claim runs out", attrs...)
		}
	case result == domain.DeliverySent:
		d.log.Info("outbox delivery attempt", attrs...)
	case result == domain.DeliveryDead:
		d.log.Error("outbox delivery attempt", attrs...)
	default:
		d.log.Warn("outbox delivery attempt", attrs...)
	}
}

// lastError is err's text as kept on the row: valid UTF-8 without NUL
// bytes (PostgreSQL's text refuses both), cut to a bounded length at a
// character boundary. Adapters' errors never hold credentials or bodies.
func lastError(err error) string {
	s := strings.ReplaceAll(strings.ToValidUTF8(err.Error(), "\uFFFD"), "\x00", "")
	if len(s) <= maxLastErrorBytes {
		return s
	}
	cut := maxLastErrorBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
