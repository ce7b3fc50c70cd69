package httpapi

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the server's request metrics. Labels are bounded: method
// is one of the standard methods or OTHER, route is a route template (or
// "unmatched"), never a raw path.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	labels := []string{"method", "route", "status"}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gatehouse",
			Name:      "http_requests_total",
			Help:      "HTTP requests served, by method, route template and status.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gatehouse",
			Name:      "http_request_duration_seconds",
			Help:      "Time to serve an HTTP request, by method, route template and status.",
			Buckets:   prometheus.DefBuckets,
		}, labels),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: registering HTTP metrics: %w", err)
		}
	}
	return m, nil
}

func (m *httpMetrics) observe(method, route string, status int, elapsed time.Duration) {
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, s).Inc()
	m.duration.WithLabelValues(method, route, s).Observe(elapsed.Seconds())
}

// metricsHandler serves everything gatherer holds in the Prometheus text
// format. A collector that fails is logged and left out rather than failing
// the whole scrape.
func metricsHandler(gatherer prometheus.Gatherer, log *slog.Logger) echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promLogger{log},
	}))
}

// promLogger adapts slog to promhttp's logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Error("serving metrics: " + fmt.Sprint(v...)) }
