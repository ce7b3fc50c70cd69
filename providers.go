package main

import (
	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatehouse/gatehouse/adapters/httpapi"
	"github.com/gatehouse/gatehouse/adapters/postgres"
	"github.com/gatehouse/gatehouse/ports"
)

// serveApp is what `gatehouse serve` runs.
type serveApp struct {
	Server *httpapi.Server
	Schema *postgres.SchemaProbe
}

// metricsSet provides one Prometheus registry per process, with the Go
// runtime and process collectors, for every component that exports metrics.
var metricsSet = wire.NewSet(
	newRegistry,
	wire.Bind(new(prometheus.Registerer), new(*prometheus.Registry)),
	wire.Bind(new(prometheus.Gatherer), new(*prometheus.Registry)),
)

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newProbes lists the readiness checks behind /readyz.
func newProbes(schema *postgres.SchemaProbe) []ports.Probe {
	return []ports.Probe{schema}
}
