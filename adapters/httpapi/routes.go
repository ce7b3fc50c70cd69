package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// routes is the whole route table. Handlers live in one file per feature
// (health.go; accounts.go and uploads.go to come); this is the one place
// that says what the API serves. huma operations appear in the OpenAPI
// document (api/openapi.yaml), plain echo routes do not.
//
// huma also serves /openapi.json, /openapi.yaml and /docs when
// cfg.DocsEnabled (see apiConfig).
func (s *Server) routes() {
	// Operations: no authentication, no /v1 prefix.
	huma.Register(s.api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness",
		Description: "Answers 200 while the process serves HTTP. It checks no dependency.",
		Tags:        []string{"operations"},
	}, s.healthz)
	huma.Register(s.api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness",
		Description: "Runs every readiness check (database, schema, ...) with a short timeout. " +
			"Answers 200 when all pass, otherwise 503 with code `not_ready` and one entry in `errors` per failing check " +
			"(`location` is `checks.<name>`). Also 503 while the server shuts down.",
		Tags:   []string{"operations"},
		Errors: []int{http.StatusServiceUnavailable},
	}, s.readyz)
	s.echo.GET("/metrics", metricsHandler(s.gatherer, s.log)) // Prometheus text format

	// v1: accounts (POST /v1/auth/..., /v1/me) and uploads (/v1/uploads...)
	// register here, with their handlers in accounts.go and uploads.go.
}
