package prom_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/adapters/inmem"
	"github.com/gatehouse/gatehouse/adapters/prom"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// failingStats is a queue whose Stats always fails.
type failingStats struct{ ports.OutboxQueue }

func (failingStats) Stats(context.Context, time.Time) (map[domain.OutboxKind]domain.OutboxDepth, error) {
	return nil, domain.Wrap(domain.KindUnavailable, "test", errors.New("database down"))
}

func enqueue(t *testing.T, store *inmem.Store, msgs ...domain.OutboxMessage) {
	t.Helper()
	if err := store.Enqueue(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func mailAt(t *testing.T, id string, at time.Time) domain.OutboxMessage {
	t.Helper()
	m, err := domain.NewMailOutbox("verify_email", domain.MailMessage{ID: id, To: "a@example.com", Subject: "s", Text: "t"}, at)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func eventAt(t *testing.T, id string, at time.Time) domain.OutboxMessage {
	t.Helper()
	m, err := domain.NewEventOutbox(domain.Event{ID: id, Type: "user.registered", Version: 1, OccurredAt: at, Detail: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// series gathers reg and returns the value of every series of the named
// families, keyed as name{label="value",...} with labels in name order.
func series(t *testing.T, reg prometheus.Gatherer, names ...string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !slices.Contains(names, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestOutboxMetrics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(t *testing.T, store *inmem.Store) ports.OutboxQueue
		observe func(m *prom.OutboxMetrics)
		names   []string
		want    map[string]float64
	}{
		{
			name: "the depth gauges describe the pending and due rows per channel",
			setup: func(t *testing.T, store *inmem.Store) ports.OutboxQueue {
				enqueue(t, store,
					mailAt(t, "0194d6a0-0000-7000-8000-000000000001", t0.Add(-90*time.Second)),
					mailAt(t, "0194d6a0-0000-7000-8000-000000000002", t0.Add(time.Minute)),
					eventAt(t, "0194d6a0-0000-7000-8000-000000000003", t0.Add(-2*time.Second)))
				return inmem.NewOutboxQueue(store)
			},
			names: []string{"gatehouse_outbox_pending", "gatehouse_outbox_due", "gatehouse_outbox_oldest_due_age_seconds"},
			want: map[string]float64{
				`gatehouse_outbox_pending{channel="mail"}`:                 2,
				`gatehouse_outbox_pending{channel="event"}`:                1,
				`gatehouse_outbox_due{channel="mail"}`:                     1,
				`gatehouse_outbox_due{channel="event"}`:                    1,
				`gatehouse_outbox_oldest_due_age_seconds{channel="mail"}`:  90,
				`gatehouse_outbox_oldest_due_age_seconds{channel="event"}`: 2,
			},
		},
		{
			name:  "an empty outbox reports zeros for both channels",
			setup: func(t *testing.T, store *inmem.Store) ports.OutboxQueue { return inmem.NewOutboxQueue(store) },
			names: []string{"gatehouse_outbox_pending", "gatehouse_outbox_stats_errors_total"},
			want: map[string]float64{
				`gatehouse_outbox_pending{channel="mail"}`:  0,
				`gatehouse_outbox_pending{channel="event"}`: 0,
				`gatehouse_outbox_stats_errors_total{}`:     0,
			},
		},
		{
			name: "a failed read of the depth is counted and leaves the gauges out",
			setup: func(t *testing.T, store *inmem.Store) ports.OutboxQueue {
				return failingStats{inmem.NewOutboxQueue(store)}
			},
			names: []string{"gatehouse_outbox_pending", "gatehouse_outbox_due", "gatehouse_outbox_stats_errors_total"},
			want:  map[string]float64{`gatehouse_outbox_stats_errors_total{}`: 1},
		},
		{
			name:  "attempts are counted per channel and result, every series present from the start",
			setup: func(t *testing.T, store *inmem.Store) ports.OutboxQueue { return inmem.NewOutboxQueue(store) },
			observe: func(m *prom.OutboxMetrics) {
				m.Attempted(domain.OutboxMail, domain.DeliverySent, time.Second)
				m.Attempted(domain.OutboxMail, domain.DeliverySent, time.Second)
				m.Attempted(domain.OutboxMail, domain.DeliveryRetried, time.Second)
				m.Attempted(domain.OutboxEvent, domain.DeliveryDead, time.Second)
			},
			names: []string{"gatehouse_outbox_deliveries_total"},
			want: map[string]float64{
				`gatehouse_outbox_deliveries_total{channel="event",result="dead"}`:    1,
				`gatehouse_outbox_deliveries_total{channel="event",result="retried"}`: 0,
				`gatehouse_outbox_deliveries_total{channel="event",result="sent"}`:    0,
				`gatehouse_outbox_deliveries_total{channel="mail",result="dead"}`:     0,
				`gatehouse_outbox_deliveries_total{channel="mail",result="retried"}`:  1,
				`gatehouse_outbox_deliveries_total{channel="mail",result="sent"}`:     2,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewPedanticRegistry()
			m, err := prom.NewOutboxMetrics(reg, tc.setup(t, inmem.NewStore()), inmem.NewClock(t0))
			if err != nil {
				t.Fatal(err)
			}
			if tc.observe != nil {
				tc.observe(m)
			}
			if d := cmp.Diff(series(t, reg, tc.names...), tc.want); d != "" {
				t.Errorf("series differ (-got +want):\n%s", d)
			}
		})
	}
}

func TestOutboxMetricsHistogramCountsAttempts(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := prom.NewOutboxMetrics(reg, inmem.NewOutboxQueue(inmem.NewStore()), inmem.NewClock(t0))
	if err != nil {
		t.Fatal(err)
	}
	m.Attempted(domain.OutboxEvent, domain.DeliverySent, 300*time.Millisecond)
	m.Attempted(domain.OutboxEvent, domain.DeliveryRetried, 700*time.Millisecond)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gatehouse_outbox_attempt_duration_seconds" {
			continue
		}
		for _, metric := range f.GetMetric() {
			if metric.GetLabel()[0].GetValue() != "event" {
				continue
			}
			h := metric.GetHistogram()
			if h.GetSampleCount() != 2 || h.GetSampleSum() != 1.0 {
				t.Errorf("event attempt durations: got %d samples summing to %v, want 2 summing to 1", h.GetSampleCount(), h.GetSampleSum())
			}
			return
		}
	}
	t.Fatal("no event series of gatehouse_outbox_attempt_duration_seconds")
}

func TestNewOutboxMetricsRefusesASecondRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	q := inmem.NewOutboxQueue(inmem.NewStore())
	if _, err := prom.NewOutboxMetrics(reg, q, inmem.NewClock(t0)); err != nil {
		t.Fatal(err)
	}
	if _, err := prom.NewOutboxMetrics(reg, q, inmem.NewClock(t0)); err == nil {
		t.Error("second NewOutboxMetrics on one registry: got nil, want an error")
	}
}
