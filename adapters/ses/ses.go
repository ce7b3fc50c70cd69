// Package ses sends gatehouse's mail through Amazon SES, API v2 (SendEmail),
// with aws-sdk-go-v2.
//
// The client is built from the SDK's default configuration, so the standard
// credentials chain applies and so do the standard endpoint overrides
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SESV2). Each message goes out as SES
// "simple" content with a text and an HTML part, UTF-8 throughout. SES
// replaces any Message-ID header with its own and takes no idempotency key,
// so the message ID (the outbox row id) travels in the X-Entity-Ref-ID
// header, stable across retries; a retry after a lost response can deliver
// the message twice.
//
// Errors are translated at this edge: MessageRejected and BadRequest (the
// message itself) become domain.KindInvalid; everything else (throttling,
// quotas, server errors, timeouts, network failures, and account or identity
// problems an operator must fix) becomes domain.KindUnavailable. Errors never
// contain credentials or a message body.
package ses

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
)

var _ ports.Mailer = (*Mailer)(nil)

// DefaultTimeout bounds one Send, the SDK's own retries included, unless
// WithTimeout says otherwise.
const DefaultTimeout = 15 * time.Second

// Mailer is a ports.Mailer that sends through Amazon SES. It is safe for
// concurrent use.
type Mailer struct {
	client  *sesv2.Client
	from    string
	timeout time.Duration
}

// Option changes how New builds a Mailer.
type Option func(*options)

type options struct {
	timeout      time.Duration
	baseEndpoint string
	credentials  aws.CredentialsProvider
	maxAttempts  int
}

// WithTimeout bounds each Send, the SDK's retries included, to d instead of
// DefaultTimeout. An endpoint that does not answer in time yields a
// domain.KindUnavailable error.
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithBaseEndpoint sends every request to url (e.g. a local stand-in)
// instead of the endpoint the SDK would resolve; it takes precedence over
// AWS_ENDPOINT_URL*.
func WithBaseEndpoint(url string) Option {
	return func(o *options) { o.baseEndpoint = url }
}

// WithCredentials signs requests with p instead of the default credentials
// chain (e.g. credentials.NewStaticCredentialsProvider in tests).
func WithCredentials(p aws.CredentialsProvider) Option {
	return func(o *options) { o.credentials = p }
}

// WithRetryMaxAttempts sets how many times the SDK tries one request (1: no
// SDK retry) instead of the SDK's default.
func WithRetryMaxAttempts(n int) Option {
	return func(o *options) { o.maxAttempts = n }
}

// New returns a Mailer that sends as cfg.From through SES in region. It
// loads the SDK's default configuration (environment, shared files,
// credentials chain) but makes no request.
func New(ctx context.Context, region string, cfg config.Email, opts ...Option) (*Mailer, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.timeout <= 0 {
		return nil, errors.New("ses: timeout must be positive")
	}
	if region == "" {
		return nil, errors.New("ses: AWS_REGION is empty")
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, errors.New("ses: FROM_EMAIL is not an email address")
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if o.credentials != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(o.credentials))
	}
	if o.maxAttempts > 0 {
		loadOpts = append(loadOpts, awsconfig.WithRetryMaxAttempts(o.maxAttempts))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("ses: load AWS configuration: %w", err)
	}
	client := sesv2.NewFromConfig(awsCfg, func(so *sesv2.Options) {
		if o.baseEndpoint != "" {
			so.BaseEndpoint = aws.String(o.baseEndpoint)
		}
	})
	return &Mailer{client: client, from: cfg.From, timeout: o.timeout}, nil
}

// Send delivers msg through SES. See the package documentation for the
// error kinds.
func (m *Mailer) Send(ctx context.Context, msg domain.MailMessage) error {
	const op = "ses.Send"
	if err := checkMessage(op, msg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return domain.Wrap(domain.KindUnavailable, op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()

	body := &types.Body{}
	if msg.Text != "" {
		body.Text = utf8(msg.Text)
	}
	if msg.HTML != "" {
		body.Html = utf8(msg.HTML)
	}
	_, err := m.client.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.from),
		Destination:      &types.Destination{ToAddresses: []string{msg.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: utf8(msg.Subject),
			Body:    body,
			Headers: []types.MessageHeader{{Name: aws.String("X-Entity-Ref-ID"), Value: aws.String(msg.ID)}},
		}},
	})
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	return domain.Wrap(kindOf(err), op, err)
}

func utf8(s string) *types.Content {
	return &types.Content{Data: aws.String(s), Charset: aws.String("UTF-8")}
}

// kindOf maps an SES error to an error kind: only a refusal of the message
// itself is permanent.
func kindOf(err error) domain.Kind {
	var rejected *types.MessageRejected
	var bad *types.BadRequestException
	if errors.As(err, &rejected) || errors.As(err, &bad) {
		return domain.KindInvalid
	}
	return domain.KindUnavailable
}

// checkMessage refuses what domain.MailMessage.Validate refuses, as op.
func checkMessage(op string, msg domain.MailMessage) error {
	if err := msg.Validate(); err != nil {
		return &domain.Error{Kind: domain.KindInvalid, Op: op, Msg: domain.PublicMessage(err), Err: err}
	}
	return nil
}
