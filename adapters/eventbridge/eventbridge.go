// Package eventbridge publishes gatehouse's domain events to an Amazon
// EventBridge bus with PutEvents (aws-sdk-go-v2).
//
// The client is built from the SDK's default configuration, so the standard
// credentials chain applies and so do the standard endpoint overrides
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EVENTBRIDGE).
//
// Each domain.Event becomes one entry: Source and EventBusName from Config,
// DetailType the event's type, Time when it occurred, and as Detail an
// envelope that keeps what EventBridge has no field for:
//
//	{"id": "...", "type": "user.registered", "version": 1,
//	 "occurred_at": "2026-03-14T15:09:26.535Z", "data": {...the event's detail...}}
//
// The id is stable across retries (the outbox row id): delivery is
// at-least-once, and consumers drop duplicates by it.
//
// Entries go out in requests of at most ten entries and 256 KiB. EventBridge
// may accept some entries of a request and fail others (FailedEntryCount >
// 0): the failed ones whose error is transient (InternalFailure,
// ThrottlingException) are sent again, alone, after a short backoff, up to
// the entry attempt limit. Publish then returns one error per event: nil
// when EventBridge accepted it, domain.KindInvalid when the event itself was
// refused (not JSON, too large, MalformedDetail, InvalidArgument), and
// domain.KindUnavailable otherwise (worth retrying later; this includes
// permission errors an operator must fix). Errors never contain credentials
// or an event's detail.
package eventbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.EventPublisher = (*Publisher)(nil)

// Defaults for Config and the options.
const (
	DefaultSource        = "gatehouse"
	DefaultBusName       = "default"
	DefaultTimeout       = 10 * time.Second
	DefaultEntryAttempts = 3
	DefaultEntryBackoff  = 100 * time.Millisecond
)

// Limits of PutEvents.
const (
	maxEntriesPerRequest = 10
	maxRequestBytes      = 256 * 1024 // also the limit of a single entry
	maxDetailTypeLen     = 128
)

// Config says where events go.
type Config struct {
	Region  string // AWS region of the bus; required
	BusName string // name or ARN of the event bus; DefaultBusName when empty
	Source  string // the events' source; DefaultSource when empty
}

// Publisher is a ports.EventPublisher that puts events on an EventBridge bus.
// It is safe for concurrent use.
type Publisher struct {
	client   *eventbridge.Client
	bus      string
	source   string
	timeout  time.Duration
	attempts int
	backoff  time.Duration
}

// Option changes how New builds a Publisher.
type Option func(*options)

type options struct {
	timeout      time.Duration
	baseEndpoint string
	credentials  aws.CredentialsProvider
	maxAttempts  int
	attempts     int
	backoff      time.Duration
}

// WithTimeout bounds each PutEvents request, the SDK's retries included, to
// d instead of DefaultTimeout. An endpoint that does not answer in time
// fails that request's events with domain.KindUnavailable.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithBaseEndpoint sends every request to url (e.g. a local stand-in)
// instead of the endpoint the SDK would resolve; it takes precedence over
// AWS_ENDPOINT_URL*.
func WithBaseEndpoint(url string) Option {
	return func(o *options) { o.baseEndpoint = url }
}

// WithCredentials signs requests with p instead of the default credentials
// chain (e.g. credentials.NewStaticCredentialsProvider in tests).
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(o *options) { o.credentials = p }
}

// WithRetryMaxAttempts sets how many times the SDK tries one request (1: no
// SDK retry) instead of the SDK's default. It does not affect the resending
// of failed entries (see WithEntryAttempts).
func WithRetryMaxAttempts(n int) Option {
	return func(o *options) { o.maxAttempts = n }
}

// WithEntryAttempts sets how many times, at most, one Publish sends an
// entry that EventBridge failed with a transient error (1: never again),
// instead of DefaultEntryAttempts.
func WithEntryAttempts(n int) Option {
	return func(o *options) { o.attempts = n }
}

// WithEntryBackoff sets the base of the exponential, jittered wait before
// failed entries are sent again (0: no wait), instead of
// DefaultEntryBackoff.
func WithEntryBackoff(d time.Duration) Option {
	return func(o *options) { o.backoff = d }
}

// New returns a Publisher for the bus cfg names. It loads the SDK's default
// configuration (environment, shared files, credentials chain) but makes no
// request.
func New(ctx context.Context, cfg Config, opts ...Option) (*Publisher, error) {
	o := options{timeout: DefaultTimeout, attempts: DefaultEntryAttempts, backoff: DefaultEntryBackoff}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case cfg.Region == "":
		return nil, errors.New("eventbridge: AWS_REGION is empty")
	case o.timeout <= 0:
		return nil, errors.New("eventbridge: timeout must be positive")
	case o.attempts < 1:
		return nil, errors.New("eventbridge: entry attempts must be at least 1")
	case o.backoff < 0:
		return nil, errors.New("eventbridge: entry backoff must not be negative")
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if o.credentials != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(o.credentials))
	}
	if o.maxAttempts > 0 {
		loadOpts = append(loadOpts, awsconfig.WithRetryMaxAttempts(o.maxAttempts))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("eventbridge: load AWS configuration: %w", err)
	}
	client := eventbridge.NewFromConfig(awsCfg, func(eo *eventbridge.Options) {
		if o.baseEndpoint != "" {
			eo.BaseEndpoint = aws.String(o.baseEndpoint)
		}
	})
	p := &Publisher{
		client:   client,
		bus:      cfg.BusName,
		source:   cfg.Source,
		timeout:  o.timeout,
		attempts: o.attempts,
		backoff:  o.backoff,
	}
	if p.bus == "" {
		p.bus = DefaultBusName
	}
	if p.source == "" {
		p.source = DefaultSource
	}
	return p, nil
}

const op = "eventbridge.Publish"

// Publish puts events on the bus and returns one error per event, in order.
// See the package documentation for batching, resending and error kinds.
func (p *Publisher) Publish(ctx context.Context, events []domain.Event) []error {
	errs := make([]error, len(events))
	entries := make([]types.PutEventsRequestEntry, len(events))
	sizes := make([]int, len(events))
	var pending []int
	for i, e := range events {
		entry, size, err := p.entry(e)
		if err != nil {
			errs[i] = err
			continue
		}
		entries[i], sizes[i] = entry, size
		pending = append(pending, i)
	}

	for attempt := 1; len(pending) > 0; attempt++ {
		if err := ctx.Err(); err != nil {
			for _, i := range pending {
				errs[i] = domain.Wrap(domain.KindUnavailable, op, err)
			}
			break
		}
		var again []int
		for _, batch := range batches(pending, sizes) {
			again = append(again, p.put(ctx, batch, entries, errs)...)
		}
		if len(again) == 0 || attempt == p.attempts || sleep(ctx, p.wait(attempt)) != nil {
			// Entries not sent again keep the error of their last attempt.
			break
		}
		pending = again
	}
	return errs
}

// envelope is the Detail of every entry: the event's own detail under
// "data", with the fields EventBridge has no place for.
type envelope struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Version    int             `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// entry builds e's PutEvents entry and its size as EventBridge counts it,
// or refuses e with a domain.KindInvalid error.
func (p *Publisher) entry(e domain.Event) (types.PutEventsRequestEntry, int, error) {
	invalid := func(why string) error {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: why}
	}
	switch {
	case e.ID == "":
		return types.PutEventsRequestEntry{}, 0, invalid("event has no ID")
	case e.Type == "":
		return types.PutEventsRequestEntry{}, 0, invalid("event has no type")
	case len(e.Type) > maxDetailTypeLen:
		return types.PutEventsRequestEntry{}, 0, invalid("event type is longer than 128 bytes")
	case !json.Valid(e.Detail):
		return types.PutEventsRequestEntry{}, 0, invalid("event detail is not valid JSON")
	}
	detail, err := json.Marshal(envelope{ID: e.ID, Type: e.Type, Version: e.Version, OccurredAt: e.OccurredAt.UTC(), Data: e.Detail})
	if err != nil {
		return types.PutEventsRequestEntry{}, 0, &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: "event cannot be encoded", Err: err}
	}
	entry := types.PutEventsRequestEntry{
		EventBusName: aws.String(p.bus),
		Source:       aws.String(p.source),
		DetailType:   aws.String(e.Type),
		Detail:       aws.String(string(detail)),
	}
	// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
	size := len(p.source) + len(e.Type) + len(detail)
	if !e.OccurredAt.IsZero() {
		entry.Time = aws.Time(e.OccurredAt)
		size += 14
	}
	if size > maxRequestBytes {
		return types.PutEventsRequestEntry{}, 0, invalid("event is larger than EventBridge's 256 KiB limit")
	}
	return entry, size, nil
}

// batches splits pending (indexes into sizes) into requests EventBridge
// accepts, keeping their order.
func batches(pending []int, sizes []int) [][]int {
	var out [][]int
	var cur []int
	total := 0
	for _, i := range pending {
		if len(cur) == maxEntriesPerRequest || (len(cur) > 0 && total+sizes[i] > maxRequestBytes) {
			out = append(out, cur)
			cur, total = nil, 0
		}
		cur = append(cur, i)
		total += sizes[i]
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// put sends one request with the entries of batch, records each event's
// outcome in errs, and returns the events worth sending again now.
func (p *Publisher) put(ctx context.Context, batch []int, entries []types.PutEventsRequestEntry, errs []error) (again []int) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, len(batch))}
	for j, i := range batch {
		in.Entries[j] = entries[i]
	}
	out, err := p.client.PutEvents(ctx, in)
	if err == nil && len(out.Entries) != len(batch) {
		err = fmt.Errorf("got %d result entries for %d events", len(out.Entries), len(batch))
	}
	if err != nil {
		// The SDK has already retried what it could; the caller retries later.
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		failed := domain.Wrap(domain.KindUnavailable, op, err)
		for _, i := range batch {
			errs[i] = failed
		}
		return nil
	}
	for j, r := range out.Entries {
		i := batch[j]
		code := aws.ToString(r.ErrorCode)
		if code == "" {
			errs[i] = nil
			continue
		}
		kind, retryNow := entryErrorKind(code)
		errs[i] = domain.Wrap(kind, op, fmt.Errorf("entry failed: %s: %s", code, aws.ToString(r.ErrorMessage)))
		if retryNow {
			again = append(again, i)
		}
	}
	return again
}

// entryErrorKind classifies the ErrorCode of a failed entry.
// https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
func entryErrorKind(code string) (kind domain.Kind, retryNow bool) {
	switch code {
	case "InternalFailure", "ThrottlingException":
		return domain.KindUnavailable, true
	case "MalformedDetail", "InvalidArgument", "ValidationException":
		return domain.KindInvalid, false
	default: // AccessDeniedException, NotAuthorizedFor*, ...: an operator must act
		return domain.KindUnavailable, false
	}
}

// wait is the pause before the attempt after attempt: exponential with full
// jitter.
func (p *Publisher) wait(attempt int) time.Duration {
	if p.backoff <= 0 {
		return 0
	}
	ceiling := p.backoff << min(attempt-1, 10)
	return rand.N(ceiling) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
