package inmem_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

func TestEventPublisherContract(t *testing.T) {
	t.Parallel()
	porttest.RunEventPublisher(t, func(t *testing.T) (ports.EventPublisher, func() []domain.Event) {
		p := inmem.NewEventPublisher()
		return p, p.Published
	})
}

func TestEventPublisherFailEvent(t *testing.T) {
	t.Parallel()
	events := func() []domain.Event {
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		return []domain.Event{
			{ID: "e1", Type: "user.registered", Version: 1, OccurredAt: at, Detail: []byte(`{}`)},
			{ID: "e2", Type: "user.registered", Version: 1, OccurredAt: at, Detail: []byte(`{}`)},
			{ID: "e3", Type: "user.registered", Version: 1, OccurredAt: at, Detail: []byte(`{}`)},
		}
	}
	cases := []struct {
		name      string
		times     int
		rounds    int
		wantKinds [][]domain.Kind // per round, per event; ok marks nil
	}{
		{"a failing event fails alone and its neighbours are published", 1, 1,
			[][]domain.Kind{{ok, domain.KindUnavailable, ok}}},
		{"the event fails the given number of times and is then published", 2, 3,
			[][]domain.Kind{{ok, domain.KindUnavailable, ok}, {ok, domain.KindUnavailable, ok}, {ok, ok, ok}}},
		{"a negative count fails the event on every publish", -1, 3,
			[][]domain.Kind{{ok, domain.KindUnavailable, ok}, {ok, domain.KindUnavailable, ok}, {ok, domain.KindUnavailable, ok}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := inmem.NewEventPublisher()
			p.FailEvent("e2", domain.KindUnavailable, tc.times)
			for r := range tc.rounds {
				errs := p.Publish(context.Background(), events())
				if len(errs) != 3 {
					t.Fatalf("round %d: got %d errors, want 3", r, len(errs))
				}
				for i, err := range errs {
					want := tc.wantKinds[r][i]
					switch {
					case want == ok && err != nil:
						t.Errorf("round %d, event %d: got error %v, want nil", r, i, err)
					case want != ok && domain.KindOf(err) != want:
						t.Errorf("round %d, event %d: got error %v (kind %v), want kind %v", r, i, err, domain.KindOf(err), want)
					}
				}
			}
		})
	}
}

func TestEventPublisherPublishedIsACopy(t *testing.T) {
	t.Parallel()
	p := inmem.NewEventPublisher()
	detail := []byte(`{"a":1}`)
	p.Publish(context.Background(), []domain.Event{{ID: "e1", Type: "t", Detail: detail}})
	detail[6] = '2'
	got := p.Published()
	got[0].Detail[6] = '3'
	if got, want := string(p.Published()[0].Detail), `{"a":1}`; got != want {
		t.Errorf("recorded detail: got %s, want %s", got, want)
	}
}
