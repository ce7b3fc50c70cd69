// Package resend sends gatehouse's mail through Resend's HTTP API, using
// Resend's official Go SDK.
//
// Each message goes out with a text and an HTML part. Its ID (the outbox row
// id) is sent as the Idempotency-Key, so a retry after a lost response is
// not delivered twice within Resend's 24-hour window, and as the
// X-Entity-Ref-ID header, which stays stable across retries and keeps Gmail
// from folding repeated notices into one thread. Resend assigns the
// Message-ID header itself.
//
// Errors are translated at this edge: HTTP 400, 422 and the other 4xx that
// describe the message itself become domain.KindInvalid (retrying cannot
// help); rate limits (429), server errors, timeouts, network and TLS
// failures, and problems an operator must fix (401/403: API key or sending
// domain) become domain.KindUnavailable. Errors never contain the API key or
// a message body.
package resend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	resendsdk "github.com/resend/resend-go/v3"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// DefaultTimeout bounds one Send, response included, unless WithTimeout
// says otherwise.
const DefaultTimeout = 15 * time.Second

// Mailer is a ports.Mailer that sends through Resend. It is safe for
// concurrent use.
type Mailer struct {
	client  *resendsdk.Client
	from    string
	timeout time.Duration
}

// Option changes how New builds a Mailer.
type Option func(*options)

type options struct {
	timeout time.Duration
}

// WithTimeout bounds each Send (connect, request and response) to d instead
// of DefaultTimeout. A provider that does not answer in time yields a
// domain.KindUnavailable error.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// New returns a Mailer that sends as cfg.From with cfg.ResendAPIKey to the
// API at cfg.ResendBaseURL (Resend's own when empty). The base URL must use
// https, except on a loopback host (a local stand-in), so the API key never
// crosses a network in clear text.
func New(cfg config.Email, opts ...Option) (*Mailer, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, errors.New("resend: timeout must be positive")
	}
	key := cfg.ResendAPIKey.Reveal()
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("resend: RESEND_API_KEY is empty")
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, errors.New("resend: FROM_EMAIL is not an email address")
	}
	base, err := baseURL(cfg.ResendBaseURL)
	if err != nil {
		return nil, err
	}

	transport := http.DefaultTransport.(*http.Transport).Clone()
	httpClient := &http.Client{
		Transport: statusRecorder{transport},
		// A redirect would turn the POST into a GET; report it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client := resendsdk.NewCustomClient(httpClient, key)
	client.BaseURL = base
	return &Mailer{client: client, from: cfg.From, timeout: o.timeout}, nil
}

func baseURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = "https://api.resend.com/"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("resend: RESEND_BASE_URL is not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, errors.New("resend: RESEND_BASE_URL must use https (http is accepted for a loopback host only)")
	}
	// The SDK resolves "emails" against the base URL: keep its path.
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers msg through Resend. See the package documentation for the
// error kinds.
func (m *Mailer) Send(ctx context.Context, msg domain.MailMessage) error {
	const op = "resend.Send"
	if err := checkMessage(op, msg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	status := new(int)
	ctx = context.WithValue(ctx, statusKey{}, status)

	req := &resendsdk.SendEmailRequest{
		From:    m.from,
		To:      []string{msg.To},
		Subject: msg.Subject,
		Text:    msg.Text,
		Html:    msg.HTML,
		Headers: map[string]string{"X-Entity-Ref-ID": msg.ID},
	}
	_, err := m.client.Emails.SendWithOptions(ctx, req, &resendsdk.SendEmailOptions{IdempotencyKey: msg.ID})
	if err == nil || (*status >= 200 && *status < 300) {
		// A 2xx means Resend accepted the message, even if its response body
		// could not be read; a retry would only replay the same key.
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	if *status == 0 {
		return domain.Wrap(domain.KindUnavailable, op, fmt.Errorf("no response from Resend: %w", err))
	}
	return domain.Wrap(kindForStatus(*status), op, fmt.Errorf("status %d from Resend: %w", *status, err))
}

// kindForStatus maps a Resend HTTP status (not 2xx) to an error kind.
// https://resend.com/docs/api-reference/errors
func kindForStatus(status int) domain.Kind {
	switch {
	case status == http.StatusUnauthorized, // missing or invalid API key
		status == http.StatusForbidden,        // API key not allowed, domain not verified
		status == http.StatusNotFound,         // wrong base URL
		status == http.StatusMethodNotAllowed, // wrong base URL
		status == http.StatusRequestTimeout,
		status == http.StatusConflict, // same idempotency key in flight
		status == http.StatusTooManyRequests,
		status >= 500,
		status < 400: // unexpected redirect or informational answer
		return domain.KindUnavailable
	default: // 400, 422 validation errors, 451 and the like: the message itself
		return domain.KindInvalid
	}
}

// statusKey carries, in a request's context, where statusRecorder writes the
// response status: the SDK folds most statuses into an error string.
type statusKey struct{}

type statusRecorder struct{ next http.RoundTripper }

func (s statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if p, ok := req.Context().Value(statusKey{}).(*int); ok && resp != nil {
		*p = resp.StatusCode
	}
	return resp, err
}

// checkMessage refuses what domain.MailMessage.Validate refuses, as op.
func checkMessage(op string, msg domain.MailMessage) error {
	if err := msg.Validate(); err != nil {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: domain.PublicMessage(err), Err: err}
	}
	return nil
}
