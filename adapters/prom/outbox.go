// Package prom exports gatehouse's outbox metrics to Prometheus: counters
// and a histogram fed by the dispatcher through ports.OutboxObserver, and
// gauges of the work waiting in the outbox, read from the queue at each
// scrape.
//
// The channel label is the outbox kind (mail or event); result is sent,
// retried or dead. Labels are bounded: no topic, id or address ever becomes
// a label value.
package prom

import (
	"context"
	"fmt"
	"time"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.OutboxObserver = (*OutboxMetrics)(nil)

// ProviderSet provides *OutboxMetrics bound to ports.OutboxObserver.
var ProviderSet = wire.NewSet(NewOutboxMetrics, wire.Bind(new(ports.OutboxObserver), new(*OutboxMetrics)))

// statsTimeout bounds the queue query a scrape runs.
const statsTimeout = 5 * time.Second

var (
	channels = []domain.OutboxKind{domain.OutboxMail, domain.OutboxEvent}
	results  = []domain.DeliveryResult{domain.DeliverySent, domain.DeliveryRetried, domain.DeliveryDead}
)

// OutboxMetrics is the outbox's Prometheus metrics:
//
//	gatehouse_outbox_deliveries_total{channel,result}        delivery attempts by outcome
//	gatehouse_outbox_attempt_duration_seconds{channel}       time one attempt took
//	gatehouse_outbox_pending{channel}                        rows neither sent nor dead
//	gatehouse_outbox_due{channel}                            pending rows a dispatcher could claim now
//	gatehouse_outbox_oldest_due_age_seconds{channel}         how long the longest-waiting due row has been due
//
// The last three are read from the queue (one query) at each scrape, so
// they describe the whole outbox, whichever replica is scraped. A failed
// read leaves them out of that scrape and counts in
// gatehouse_outbox_stats_errors_total.
type OutboxMetrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

// NewOutboxMetrics registers the outbox metrics with reg; the gauges read
// queue's Stats at clock's time.
func NewOutboxMetrics(reg prometheus.Registerer, queue ports.OutboxQueue, clock ports.Clock) (*OutboxMetrics, error) {
	m := &OutboxMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatehouse", Subsystem: "outbox", Name: "deliveries_total",
			Help: "Outbox delivery attempts, by channel (mail, event) and result (sent, retried, dead).",
		}, []string{"channel", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse", Subsystem: "outbox", Name: "attempt_duration_seconds",
			Help:    "Time one outbox delivery attempt took (a send, or a whole Publish call for events), by channel.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"channel"}),
	}
	// Every series exists from the start, so rate() and alerts see zeros
	// rather than nothing.
	for _, c := range channels {
		for _, r := range results {
			m.deliveries.WithLabelValues(string(c), string(r))
		}
		m.duration.WithLabelValues(string(c))
	}
	depth := newDepthCollector(queue, clock)
	for _, c := range []prometheus.Collector{m.deliveries, m.duration, depth} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("prom: registering outbox metrics: %w", err)
		}
	}
	return m, nil
}

// Attempted implements ports.OutboxObserver.
func (m *OutboxMetrics) Attempted(kind domain.OutboxKind, result domain.DeliveryResult, elapsed time.Duration) {
	m.deliveries.WithLabelValues(string(kind), string(result)).Inc()
	m.duration.WithLabelValues(string(kind)).Observe(elapsed.Seconds())
}

// depthCollector reads the queue's Stats once per scrape. It also collects
// its error counter, after the read, so a scrape shows its own failure.
type depthCollector struct {
	queue   ports.OutboxQueue
	clock   ports.Clock
	pending *prometheus.Desc
	due     *prometheus.Desc
	oldest  *prometheus.Desc
	errors  prometheus.Counter
}

func newDepthCollector(queue ports.OutboxQueue, clock ports.Clock) *depthCollector {
	labels := []string{"channel"}
	return &depthCollector{
		queue: queue,
		clock: clock,
		pending: prometheus.NewDesc("gatehouse_outbox_pending",
			"Outbox rows neither sent nor dead (the outbox's depth), by channel.", labels, nil),
		due: prometheus.NewDesc("gatehouse_outbox_due",
			"Pending outbox rows that are due and not held by a live claim, by channel.", labels, nil),
		oldest: prometheus.NewDesc("gatehouse_outbox_oldest_due_age_seconds",
			"How long the longest-waiting due outbox row has been due, by channel; 0 when none is. It grows when no dispatcher keeps up.", labels, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gatehouse", Subsystem: "outbox", Name: "stats_errors_total",
			Help: "Scrapes whose read of the outbox depth failed (the depth gauges are missing from them).",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.due
	ch <- c.oldest
	c.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	stats, err := c.queue.Stats(ctx, c.clock.Now())
	if err != nil {
		c.errors.Inc()
	}
	c.errors.Collect(ch)
	if err != nil {
		return
	}
	for _, k := range channels {
		d := stats[k]
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(d.Pending), string(k))
		ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(d.Due), string(k))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, d.OldestDue.Seconds(), string(k))
	}
}
