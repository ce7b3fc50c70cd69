package inmem

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.EventPublisher = (*EventPublisher)(nil)

// errEventInjected is the cause of the failures EventPublisher was told to
// produce.
var errEventInjected = errors.New("injected event failure")

// EventPublisher is an in-memory ports.EventPublisher. It refuses the events
// the EventBridge adapter refuses, records the rest, and can be told to fail
// chosen events. It is safe for concurrent use.
type EventPublisher struct {
	mu        sync.Mutex
	published []domain.Event
	failures  map[string]*eventFailure
}

type eventFailure struct {
	kind domain.Kind
	left int // publishes still to fail; negative for every one
}

// NewEventPublisher returns an empty EventPublisher.
func NewEventPublisher() *EventPublisher {
	return &EventPublisher{failures: map[string]*eventFailure{}}
}

// Publish records every acceptable event and returns one error per event, in
// order: nil when recorded, kind domain.KindInvalid for a malformed event (no
// ID or type, detail that is not JSON), the queued kind for an event told to
// fail with FailEvent, and a retryable error wrapping the context's error
// for every event once the context is done.
func (p *EventPublisher) Publish(ctx context.Context, events []domain.Event) []error {
	const op = "inmem.EventPublisher.Publish"
	errs := make([]error, len(events))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = domain.Wrap(domain.KindUnavailable, op, err)
		}
		return errs
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, e := range events {
		if err := checkEvent(op, e); err != nil {
			errs[i] = err
			continue
		}
		if f := p.failures[e.ID]; f != nil && f.left != 0 {
			f.left--
			errs[i] = domain.Wrap(f.kind, op, errEventInjected)
			continue
		}
		e.Detail = slices.Clone(e.Detail)
		p.published = append(p.published, e)
	}
	return errs
}

// Published returns a copy of the events accepted so far, in order.
func (p *EventPublisher) Published() []domain.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]domain.Event, len(p.published))
	for i, e := range p.published {
		e.Detail = slices.Clone(e.Detail)
		out[i] = e
	}
	return out
}

// FailEvent makes the next times publishes of the event with this ID fail
// with an error of the given kind; times < 0 fails every publish of it. The
// event's neighbours in the same call are unaffected, as with a partial
// failure of EventBridge's PutEvents. A later call for the same ID replaces
// the earlier one.
func (p *EventPublisher) FailEvent(id string, kind domain.Kind, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures[id] = &eventFailure{kind: kind, left: times}
}

// checkEvent applies the checks the EventBridge adapter makes before it
// sends an event.
func checkEvent(op string, e domain.Event) error {
	invalid := func(why string) error {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: why}
	}
	switch {
	case e.ID == "":
		return invalid("event has no ID")
	case e.Type == "":
		return invalid("event has no type")
	case !json.Valid(e.Detail):
		return invalid("event detail is not valid JSON")
	}
	return nil
}
