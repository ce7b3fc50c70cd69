package httpapi

import (
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// APIVersion is the version of the HTTP contract in the OpenAPI document.
// Paths carry the major version (/v1/...); bump this when the contract
// changes and regenerate api/openapi.yaml (see TestOpenAPIUpToDate).
const APIVersion = "1.0.0"

const apiDescription = "gatehouse gives a web frontend accounts with verified email and file uploads " +
	"that are scanned for malware before they are accepted.\n\n" +
	"## Errors\n\n" +
	"Every non-2xx response is an RFC 9457 problem (`application/problem+json`): " +
	"`{\"type\", \"title\", \"status\", \"detail\", \"code\", \"request_id\", \"errors\"?}`. " +
	"`type` is always `about:blank`; `code` is a stable snake_case machine code to branch on; " +
	"`detail` is safe to show to users; `request_id` equals the `X-Request-ID` response header; " +
	"`errors` lists the offending inputs (`location`, `message`) when there are any.\n\n" +
	"Codes any operation may return: `bad_request` and `malformed_json` (400), `unauthenticated` (401), " +
	"`forbidden` (403), `not_found` (404), `method_not_allowed` (405), `conflict` (409), " +
	"`body_too_large` (413), `unsupported_media_type` (415), `validation_failed` (422), " +
	"`rate_limited` (429), `internal_error` (500), `unavailable` and `timeout` (503). " +
	"Operations document their own, more specific codes. Every 429 carries a `Retry-After` header (seconds); " +
	"so does a 503 when the server knows when to come back.\n\n" +
	"## Sessions\n\n" +
	"`POST /v1/auth/login` starts a session. Browsers get it as the `__Host-session` cookie (Secure, HttpOnly, " +
	"SameSite=Lax, Path=/, expiring with the session); other clients may ask for a bearer token instead and send it as " +
	"`Authorization: Bearer <token>`. A request with an Authorization header is authenticated by it alone. " +
	"Operations that need a session answer 401 `unauthenticated` (none presented), `invalid_session` " +
	"(unknown, revoked or malformed) or `session_expired` (idle or absolute lifetime over).\n\n" +
	"## Browsers: CORS and CSRF\n\n" +
	"Only the origins configured in `CORS_ALLOWED_ORIGINS` may call the API from a browser, with credentials. " +
	"Unsafe requests (POST, PUT, PATCH, DELETE) without an Authorization header must come from the API's own origin " +
	"or one of those origins (checked with `Sec-Fetch-Site` and `Origin`); others are refused with 403 `csrf_rejected`. " +
	"Request bodies must be `application/json` (415 `unsupported_media_type` otherwise).\n"

// apiConfig is huma's configuration: OpenAPI 3.1 without huma's $schema
// links (response bodies are exactly the documented shapes), and the
// document and docs routes only when docsEnabled.
func apiConfig(docsEnabled bool) huma.Config {
	c := huma.DefaultConfig("gatehouse", APIVersion)
	c.Info.Description = apiDescription
	c.CreateHooks = nil // drops the link transformer that adds $schema to bodies
	c.SchemasPath = ""
	if !docsEnabled {
		c.OpenAPIPath = ""
		c.DocsPath = ""
	}
	c.Transformers = []huma.Transformer{problemTransformer}
	c.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	c.OnAddOperation = append(c.OnAddOperation, documentProblems)
	return c
}

// documentProblems gives every operation the same default response: the
// Problem schema, served as application/problem+json.
func documentProblems(oapi *huma.OpenAPI, op *huma.Operation) {
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	schema := oapi.Components.Schemas.Schema(reflect.TypeFor[Problem](), true, "Problem")
	op.Responses["default"] = &huma.Response{
		Description: "Error: RFC 9457 problem details",
		Content:     map[string]*huma.MediaType{problemContentType: {Schema: schema}},
	}
}
