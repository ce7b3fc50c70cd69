package porttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

// NewEventPublisher builds a fresh ports.EventPublisher for one subtest, and
// a function that returns the events delivered so far as the other side
// received them, decoded back into domain.Event, in delivery order.
type NewEventPublisher func(t *testing.T) (ports.EventPublisher, func() []domain.Event)

// RunEventPublisher runs the ports.EventPublisher contract against the
// implementation that newPublisher builds.
func RunEventPublisher(t *testing.T, newPublisher NewEventPublisher) {
	t.Helper()

	t.Run("publishes every event with its ID, type, version, time and detail intact", func(t *testing.T) {
		t.Parallel()
		p, received := newPublisher(t)
		events := sampleEvents(3)
		errs := p.Publish(context.Background(), events)
		checkAllNil(t, errs, len(events))
		got := received()
		if len(got) != len(events) {
			t.Fatalf("received %d events, want %d", len(got), len(events))
		}
		for i := range events {
			if d := diffEvent(got[i], events[i]); d != "" {
				t.Errorf("event %d differs (-got +want):\n%s", i, d)
			}
		}
	})

	t.Run("publishing no events returns no errors and sends nothing", func(t *testing.T) {
		t.Parallel()
		p, received := newPublisher(t)
		if errs := p.Publish(context.Background(), nil); len(errs) != 0 {
			t.Errorf("Publish(nil): got %d errors, want 0", len(errs))
		}
		if n := len(received()); n != 0 {
			t.Errorf("received %d events, want 0", n)
		}
	})

	t.Run("more events than fit in one request are all published", func(t *testing.T) {
		t.Parallel()
		p, received := newPublisher(t)
		events := sampleEvents(23)
		errs := p.Publish(context.Background(), events)
		checkAllNil(t, errs, len(events))
		if got, want := receivedIDs(received()), eventIDs(events); !slices.Equal(got, want) {
			t.Errorf("received IDs %q, want %q", got, want)
		}
	})

	t.Run("publishing the same event again keeps its ID so consumers can drop the duplicate", func(t *testing.T) {
		t.Parallel()
		p, received := newPublisher(t)
		events := sampleEvents(1)
		for range 2 {
			checkAllNil(t, p.Publish(context.Background(), events), 1)
		}
		got := received()
		if len(got) != 2 {
			t.Fatalf("received %d events, want 2", len(got))
		}
		for i := range got {
			if d := diffEvent(got[i], events[0]); d != "" {
				t.Errorf("delivery %d differs (-got +want):\n%s", i+1, d)
			}
		}
	})

	invalid := []struct {
		name   string
		mutate func(*domain.Event)
	}{
		{"an event whose detail is not JSON is refused as invalid and the others are published", func(e *domain.Event) { e.Detail = []byte(`{"user_id":`) }},
		{"an event without detail is refused as invalid and the others are published", func(e *domain.Event) { e.Detail = nil }},
		{"an event without an ID is refused as invalid and the others are published", func(e *domain.Event) { e.ID = "" }},
		{"an event without a type is refused as invalid and the others are published", func(e *domain.Event) { e.Type = "" }},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, received := newPublisher(t)
			events := sampleEvents(3)
			tc.mutate(&events[1])
			errs := p.Publish(context.Background(), events)
			if len(errs) != len(events) {
				t.Fatalf("Publish: got %d errors, want %d (one per event)", len(errs), len(events))
			}
			for i, err := range errs {
				if i == 1 {
					if got, want := domain.KindOf(err), domain.KindInvalid; err == nil || got != want {
						t.Errorf("error for event 1: got %v (kind %v), want kind %v", err, got, want)
					}
					continue
				}
				if err != nil {
					t.Errorf("error for event %d: got %v, want nil", i, err)
				}
			}
			if got, want := receivedIDs(received()), []string{events[0].ID, events[2].ID}; !slices.Equal(got, want) {
				t.Errorf("received IDs %q, want %q", got, want)
			}
		})
	}

	t.Run("a cancelled context fails every event with a retryable error and sends nothing", func(t *testing.T) {
		t.Parallel()
		p, received := newPublisher(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		events := sampleEvents(3)
		errs := p.Publish(ctx, events)
		if len(errs) != len(events) {
			t.Fatalf("Publish: got %d errors, want %d (one per event)", len(errs), len(events))
		}
		for i, err := range errs {
			switch {
			case err == nil:
				t.Errorf("error for event %d: got nil, want one", i)
			case domain.IsKind(err, domain.KindInvalid):
				t.Errorf("error for event %d: got kind %v, want a retryable kind", i, domain.KindOf(err))
			case !errors.Is(err, context.Canceled):
				t.Errorf("error for event %d: got %v, want an error wrapping context.Canceled", i, err)
			}
		}
		if n := len(received()); n != 0 {
			t.Errorf("received %d events, want 0", n)
		}
	})
}

func sampleEvents(n int) []domain.Event {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535000000, time.UTC)
	events := make([]domain.Event, n)
	for i := range events {
		events[i] = domain.Event{
			ID:         fmt.Sprintf("evt-%04d", i),
			Type:       "user.registered",
			Version:    1,
			OccurredAt: at.Add(time.Duration(i) * time.Second),
			Detail:     fmt.Appendf(nil, `{"user_id": "usr-%04d", "email_domain": "example.com", "n": %d}`, i, i),
		}
	}
	return events
}

func checkAllNil(t *testing.T, errs []error, n int) {
	t.Helper()
	if len(errs) != n {
		t.Fatalf("Publish: got %d errors, want %d (one per event)", len(errs), n)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("error for event %d: got %v, want nil", i, err)
		}
	}
}

func eventIDs(events []domain.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func receivedIDs(events []domain.Event) []string {
	ids := eventIDs(events)
	slices.Sort(ids)
	return ids
}

// diffEvent lists the fields in which got and want differ, or returns "".
// Times are compared as instants and details as JSON values, so a transport
// may change the time zone or the JSON whitespace.
func diffEvent(got, want domain.Event) string {
	var b strings.Builder
	if got.ID != want.ID {
		fmt.Fprintf(&b, "ID:\n\t-%q\n\t+%q\n", got.ID, want.ID)
	}
	if got.Type != want.Type {
		fmt.Fprintf(&b, "Type:\n\t-%q\n\t+%q\n", got.Type, want.Type)
	}
	if got.Version != want.Version {
		fmt.Fprintf(&b, "Version:\n\t-%d\n\t+%d\n", got.Version, want.Version)
	}
	if !got.OccurredAt.Equal(want.OccurredAt) {
		fmt.Fprintf(&b, "OccurredAt:\n\t-%v\n\t+%v\n", got.OccurredAt, want.OccurredAt)
	}
	if g, w := compactJSON(got.Detail), compactJSON(want.Detail); g != w {
		fmt.Fprintf(&b, "Detail:\n\t-%s\n\t+%s\n", g, w)
	}
	return b.String()
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return "invalid JSON: " + string(b)
	}
	return buf.String()
}
