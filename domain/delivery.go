package domain

import (
	"encoding/json"
	"errors"
	"time"
)

// OutboxStatus is where an outbox row is in its life: pending until it is
// delivered (sent) or given up on (dead). Sent and dead are final.
type OutboxStatus string

// The statuses of an outbox row.
const (
	OutboxPending OutboxStatus = "pending"
	OutboxSent    OutboxStatus = "sent"
	OutboxDead    OutboxStatus = "dead"
)

// OutboxClaim identifies one claim of one outbox row by a dispatcher: the
// row's id and the end of the lease the claim took. Until then no other
// dispatcher claims the row; after it the row is due again, so a claim that
// a crashed dispatcher left behind is delivered by another one. A row is
// claimed again with a later lease, so the claim also fences: recording the
// outcome of an old claim fails once someone else has claimed the row.
type OutboxClaim struct {
	ID          string
	LockedUntil time.Time
}

// OutboxDelivery is one claimed outbox row, ready to deliver.
type OutboxDelivery struct {
	Message OutboxMessage
	// Attempts counts the deliveries of this row tried before this claim.
	Attempts int
	// NextAttemptAt is when the row became due.
	NextAttemptAt time.Time
	Claim         OutboxClaim
}

// OutboxDepth is the work waiting in the outbox for one kind of message.
type OutboxDepth struct {
	// Pending counts rows neither sent nor dead, whether or not they are due.
	Pending int
	// Due counts pending rows whose time has come and that no live claim
	// holds: what a dispatcher would claim now.
	Due int
	// OldestDue is how long the longest-waiting due row has been due
	// (now minus its next attempt time); 0 when nothing is due. It grows
	// when no dispatcher keeps up.
	OldestDue time.Duration
}

// DeliveryResult is the outcome of one delivery attempt, as recorded.
type DeliveryResult string

// The outcomes of a delivery attempt.
const (
	DeliverySent    DeliveryResult = "sent"    // the provider accepted it; the row is sent
	DeliveryRetried DeliveryResult = "retried" // it failed and will be tried again later
	DeliveryDead    DeliveryResult = "dead"    // it failed for good; the row is parked as dead
)

// RetryPolicy says how often and how late failed deliveries are tried again:
// exponential backoff with jitter, then give up.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts after which a message that
	// still fails is parked as dead (at least 1).
	MaxAttempts int
	// BaseDelay is the wait after the first failure; each further failure
	// doubles it, up to MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// DefaultRetryPolicy tries a message 12 times over roughly 1.2 to 2.4 hours
// (waits of 5 s doubling up to an hour, halved at random), so a provider
// outage of an hour or so loses nothing, while a message whose link expires
// long before (reset links) is not retried for a day.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 12, BaseDelay: 5 * time.Second, MaxDelay: time.Hour}
}

// Validate refuses a policy that cannot work, as a KindInvalid error.
func (p RetryPolicy) Validate() error {
	invalid := func(why string) error {
		return &Error{Kind: KindInvalid, Op: "domain.RetryPolicy.Validate", Msg: why}
	}
	switch {
	case p.MaxAttempts < 1:
		return invalid("max attempts must be at least 1")
	case p.BaseDelay <= 0:
		return invalid("base delay must be positive")
	case p.MaxDelay < p.BaseDelay:
		return invalid("max delay must be at least the base delay")
	}
	return nil
}

// Exhausted reports whether a message that has failed attempts times is to
// be given up on.
func (p RetryPolicy) Exhausted(attempts int) bool { return attempts >= p.MaxAttempts }

// Backoff returns the wait before the next attempt of a message that has
// failed attempts times (at least 1). The ceiling is BaseDelay doubled for
// each failure after the first, capped at MaxDelay; the wait is uniformly
// spread over the upper half of it, r (in [0, 1), e.g. rand.Float64) picking
// the point: "equal jitter". Messages that failed together (a provider
// outage) spread out, and unlike "full jitter" (anywhere from zero to the
// ceiling) no unlucky draw retries at once: the least wait doubles too.
func (p RetryPolicy) Backoff(attempts int, r float64) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < attempts && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	r = min(max(r, 0), 1)
	half := ceiling / 2
	return ceiling - half + time.Duration(float64(half)*r)
}

// ScrubMailPayload returns an outbox mail payload without the message's
// bodies, which carry the secrets (verification and reset links): what is
// kept once the mail has been sent or given up on. The id, recipient and
// subject stay for operators. A payload that is not a mail message becomes
// an empty JSON object, since what it holds is unknown.
func ScrubMailPayload(payload []byte) []byte {
	var m MailMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return []byte(`{}`)
	}
	out, err := json.Marshal(MailMessage{ID: m.ID, To: m.To, Subject: m.Subject})
	if err != nil {
		return []byte(`{}`)
	}
	return out
}

// DecodeMailPayload reads an outbox mail payload. A payload that is not a
// mail message is a KindInvalid error: retrying cannot fix it.
func DecodeMailPayload(payload []byte) (MailMessage, error) {
	var m MailMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return MailMessage{}, &Error{Kind: KindInvalid, Op: "domain.DecodeMailPayload", Msg: "the outbox payload is not a mail message", Err: jsonError(err)}
	}
	return m, nil
}

// DecodeEventPayload reads an outbox event payload. A payload that is not
// an event is a KindInvalid error: retrying cannot fix it.
func DecodeEventPayload(payload []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, &Error{Kind: KindInvalid, Op: "domain.DecodeEventPayload", Msg: "the outbox payload is not an event", Err: jsonError(err)}
	}
	return e, nil
}

// jsonError keeps what kind of JSON problem err is without any of the
// payload's text, which may hold a secret.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errors.New("invalid JSON")
	case errors.As(err, &typ):
		return errors.New("field " + typ.Field + " has the wrong type (" + typ.Value + ")")
	}
	return errors.New("cannot decode JSON")
}
