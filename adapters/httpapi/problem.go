package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/labstack/echo/v4"

	"github.com/gatehouse/gatehouse/domain"
)

// problemContentType is the media type of every error response (RFC 9457).
const problemContentType = "application/problem+json"

// ProblemType is the "type" of every problem gatehouse returns. RFC 9457's
// about:blank means "the status code says it all"; clients discriminate on
// the code member instead, which is stable and documented in the OpenAPI
// description.
const ProblemType = "about:blank"

// Problem is the RFC 9457 problem details body of every non-2xx response.
// It implements huma.StatusError, so a handler may return one directly, but
// handlers normally return domain errors and let the mapping build it.
type Problem struct {
	Type      string         `json:"type" example:"about:blank" doc:"Always about:blank: use code to tell problems apart."`
	Title     string         `json:"title" example:"Not Found" doc:"The HTTP status text."`
	Status    int            `json:"status" example:"404" doc:"The HTTP status code."`
	Detail    string         `json:"detail" example:"The requested resource does not exist." doc:"A human-readable explanation of this occurrence, safe to show to users."`
	Code      string         `json:"code" example:"not_found" doc:"A stable snake_case machine code; see the API description for the list."`
	RequestID string         `json:"request_id" example:"K7PZ3GNY4QF2MJXR5WLB6TCA2E" doc:"The request's id, also sent in the X-Request-ID header and written to the server's logs."`
	Errors    []ProblemError `json:"errors,omitempty" nullable:"false" doc:"The individual inputs that were wrong, when there are any."`

	// cause is what went wrong, for the logs only.
	cause error
	// retryAfter is sent as the Retry-After header (see setRetryAfter).
	retryAfter time.Duration
}

// ProblemError names one input that was wrong.
type ProblemError struct {
	Location string `json:"location" example:"body.email" doc:"Where the value came from, e.g. body.email, query.limit, header.Content-Type."`
	Message  string `json:"message" example:"expected string to be an email address" doc:"What is wrong with it."`
}

// Error implements error. It is for logs; clients get the JSON body.
func (p *Problem) Error() string {
	if p.cause != nil {
		return p.Code + ": " + p.cause.Error()
	}
	return p.Code + ": " + p.Detail
}

// Unwrap returns the cause, so logs can see the whole chain.
func (p *Problem) Unwrap() error { return p.cause }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType implements huma.ContentTypeFilter so that huma serves problems
// as application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return problemContentType
	}
	return ct
}

// newProblem builds a Problem with the standard title for status.
func newProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:   ProblemType,
		Title:  statusTitle(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
}

func statusTitle(status int) string {
	if status == statusClientClosedRequest {
		return "Client Closed Request"
	}
	return http.StatusText(status)
}

// statusClientClosedRequest is the de-facto status for a request whose client
// went away before the answer was ready (nginx's 499; huma uses it too). It
// only ever reaches logs and metrics.
const statusClientClosedRequest = 499

// kindMapping is how one domain error kind appears over HTTP.
type kindMapping struct {
	status int
	code   string // used when the error carries no code of its own
	detail string // used when the error carries no public message
}

// kindTable is the one place where domain error kinds become HTTP statuses.
var kindTable = map[domain.Kind]kindMapping{
	domain.KindInvalid:         {http.StatusUnprocessableEntity, "validation_failed", "The request is not valid."},
	domain.KindNotFound:        {http.StatusNotFound, "not_found", "The requested resource does not exist."},
	domain.KindConflict:        {http.StatusConflict, "conflict", "The request conflicts with the current state of the resource."},
	domain.KindUnauthenticated: {http.StatusUnauthorized, "unauthenticated", "Authentication is required."},
	domain.KindForbidden:       {http.StatusForbidden, "forbidden", "You are not allowed to do this."},
	domain.KindRateLimited:     {http.StatusTooManyRequests, "rate_limited", "Too many requests; try again later."},
	domain.KindUnavailable:     {http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable; try again later."},
	domain.KindInternal:        {http.StatusInternalServerError, "internal_error", "An unexpected error occurred."},
}

// statusCodes are the machine codes of problems that come from HTTP itself
// (routing, limits, huma's validation) rather than from a domain error.
var statusCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusNotAcceptable:         "not_acceptable",
	http.StatusRequestTimeout:        "request_timeout",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "body_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   "validation_failed",
	http.StatusTooManyRequests:       "rate_limited",
	statusClientClosedRequest:        "client_closed_request",
	http.StatusInternalServerError:   "internal_error",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusGatewayTimeout:        "timeout",
}

// statusDetails are the details of problems that come from HTTP itself.
var statusDetails = map[int]string{
	http.StatusNotFound:              "The requested resource does not exist.",
	http.StatusMethodNotAllowed:      "The method is not allowed for this resource; see the Allow header.",
	http.StatusRequestEntityTooLarge: "The request body is too large.",
	http.StatusUnsupportedMediaType:  "The request body must be JSON (Content-Type: application/json).",
	http.StatusInternalServerError:   "An unexpected error occurred.",
	http.StatusServiceUnavailable:    "The service is temporarily unavailable; try again later.",
}

// codeForStatus returns the machine code for a status without a more
// specific one.
func codeForStatus(status int) string {
	if c, ok := statusCodes[status]; ok {
		return c
	}
	text := strings.ToLower(http.StatusText(status))
	if text == "" {
		if status >= 500 {
			return "internal_error"
		}
		return "bad_request"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		default:
			return '_'
		}
	}, text)
}

func detailForStatus(status int) string {
	if d, ok := statusDetails[status]; ok {
		return d
	}
	if status >= 500 {
		return statusDetails[http.StatusInternalServerError]
	}
	return http.StatusText(status) + "."
}

// timeoutProblem is the answer when a request runs past cfg.RequestTimeout.
func timeoutProblem(cause error) *Problem {
	p := newProblem(http.StatusServiceUnavailable, "timeout", "The request took too long to complete; try again later.")
	p.cause = cause
	return p
}

func bodyTooLargeProblem(limit int64, cause error) *Problem {
	p := newProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("The request body exceeds the limit of %d bytes.", limit))
	p.cause = cause
	return p
}

// errPanic marks a recovered panic; its cause carries the panic value.
var errPanic = errors.New("panic")

// problemFromError maps any error to the Problem the client sees. ctx is the
// request's context (or nil): it tells a request that ran out of time from a
// dependency that did. Error text reaches the client only where it is meant
// for clients: a domain error's public message and fields, or the detail of
// a 4xx huma error; everything else stays in the cause, for the logs.
func problemFromError(ctx context.Context, err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		cp := *p
		return &cp
	}
	if ctx != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return timeoutProblem(err)
		case errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled):
			p := newProblem(statusClientClosedRequest, "client_closed_request", "The client closed the request.")
			p.cause = err
			return p
		}
	}
	var se huma.StatusError
	if errors.As(err, &se) {
		// A huma error not built by NewError (e.g. a literal huma.ErrorModel).
		status := se.GetStatus()
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		p := newProblem(status, codeForStatus(status), detailForStatus(status))
		if status < 500 && se.Error() != "" {
			p.Detail = se.Error()
		} else {
			p.cause = err
		}
		return p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return bodyTooLargeProblem(mbe.Limit, err)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status := he.Code
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		p := newProblem(status, codeForStatus(status), detailForStatus(status))
		if status >= 500 {
			p.cause = err
		}
		return p
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return problemFromDomain(err)
	}
	p = newProblem(http.StatusInternalServerError, "internal_error", kindTable[domain.KindInternal].detail)
	p.cause = err
	return p
}

// problemFromDomain maps an error whose chain holds a *domain.Error.
func problemFromDomain(err error) *Problem {
	kind := domain.KindOf(err)
	m, ok := kindTable[kind]
	if !ok {
		kind, m = domain.KindInternal, kindTable[domain.KindInternal]
	}
	if kind == domain.KindInternal {
		// Internal errors say nothing: not even a code or message an
		// adapter may have put there by mistake.
		p := newProblem(m.status, m.code, m.detail)
		p.cause = err
		return p
	}
	code := domain.CodeOf(err)
	if code == "" {
		code = m.code
	}
	detail := domain.PublicMessage(err)
	if detail == "" {
		detail = m.detail
	}
	p := newProblem(m.status, code, detail)
	p.retryAfter = domain.RetryAfterOf(err)
	for _, f := range domain.FieldsOf(err) {
		p.Errors = append(p.Errors, ProblemError{Location: f.Location, Message: f.Message})
	}
	if m.status >= 500 {
		p.cause = err
	}
	return p
}

// humaProblem builds the Problem for an error huma raises itself (validation,
// limits, content negotiation) or for a handler's error, which huma passes as
// the single err of a 500.
func humaProblem(ctx context.Context, status int, msg string, errs []error) *Problem {
	if status >= 500 && len(errs) == 1 && errs[0] != nil {
		// A handler's error or a failed body read: map the cause itself.
		return problemFromError(ctx, errs[0])
	}
	code := codeForStatus(status)
	if status == http.StatusBadRequest && isBodyParseFailure(msg, errs) {
		code = "malformed_json"
	}
	detail := msg
	switch {
	case status >= 500 || detail == "":
		detail = detailForStatus(status)
	case code == "malformed_json":
		detail = "The request body is missing or is not valid JSON."
	case msg == "validation failed":
		detail = "The request is not valid; see errors for each problem."
	}
	p := newProblem(status, code, detail)
	if status >= 500 {
		p.cause = errors.Join(append([]error{errors.New(msg)}, errs...)...)
		return p
	}
	for _, e := range errs {
		if e == nil {
			continue
		}
		// huma's details also carry the offending value; it is dropped
		// here so that nothing a client sent is echoed back.
		pe := ProblemError{Location: "request", Message: e.Error()}
		if d, ok := e.(huma.ErrorDetailer); ok {
			detail := d.ErrorDetail()
			pe.Message = detail.Message
			if detail.Location != "" {
				pe.Location = detail.Location
			}
		}
		p.Errors = append(p.Errors, pe)
	}
	return p
}

// isBodyParseFailure tells a body that is not JSON at all (or missing) from
// one that parsed but broke the schema: huma reports the former as a 400
// whose detail is located at "body" itself.
func isBodyParseFailure(msg string, errs []error) bool {
	if msg == "request body is required" {
		return true
	}
	for _, e := range errs {
		if d, ok := e.(huma.ErrorDetailer); ok && d.ErrorDetail().Location == "body" {
			return true
		}
	}
	return false
}

func init() {
	// huma builds its errors through these package variables; replacing them
	// makes validation, limit and negotiation errors Problems too. The
	// replacements are stateless, so any number of servers can share them.
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return humaProblem(nil, status, msg, errs)
	}
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		var ctx context.Context
		if hctx != nil {
			ctx = hctx.Context()
		}
		return humaProblem(ctx, status, msg, errs)
	}
}

// problemTransformer fills in the request id of problems huma writes and
// records them for the access log.
func problemTransformer(hctx huma.Context, _ string, v any) (any, error) {
	p, ok := v.(*Problem)
	if !ok {
		return v, nil
	}
	cp := *p
	info := infoFrom(hctx.Context())
	cp.RequestID = info.id
	info.record(&cp)
	setRetryAfter(hctx.SetHeader, &cp)
	return &cp, nil
}

// defaultRetryAfter is what a 429 says when its error does not know when
// the limit resets.
const defaultRetryAfter = time.Minute

// setRetryAfter sets the Retry-After header (RFC 9110 §10.2.3, in whole
// seconds, rounded up) of a problem that says when to come back: every 429,
// and a 503 whose error knows. It is called wherever problems are written,
// so no rate-limited answer goes out without it.
func setRetryAfter(set func(name, value string), p *Problem) {
	if p.Status != http.StatusTooManyRequests && p.Status != http.StatusServiceUnavailable {
		return
	}
	d := p.retryAfter
	if d <= 0 {
		if p.Status != http.StatusTooManyRequests {
			return
		}
		d = defaultRetryAfter
	}
	secs := int64((d + time.Second - 1) / time.Second)
	set("Retry-After", strconv.FormatInt(secs, 10))
}

// handleError is echo's HTTPErrorHandler: it writes errors that reach echo
// (unknown routes, wrong methods, middleware and plain-echo handler errors)
// as problems.
func (s *Server) handleError(err error, c echo.Context) {
	ctx := c.Request().Context()
	p := problemFromError(ctx, err)
	info := infoFrom(ctx)
	p.RequestID = info.id
	info.record(p)
	if c.Response().Committed {
		return
	}
	setRetryAfter(c.Response().Header().Set, p)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	b, mErr := json.Marshal(p)
	if mErr != nil {
		s.log.ErrorContext(ctx, "encoding a problem failed", "request_id", info.id, "error", mErr.Error())
		_ = c.NoContent(p.Status)
		return
	}
	_ = c.Blob(p.Status, problemContentType, b)
}
