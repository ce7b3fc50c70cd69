package ses_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/ses"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

const (
	testRegion = "eu-west-1"
	testFrom   = "Gatehouse <no-reply@mail.example.com>"
	testKeyID  = "AKIDGATEHOUSETEST"
	testSecret = "gatehouse/test/secret/access/key"
)

var testCreds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}

// wireContent and wireSendEmail are the JSON shapes of SES v2 SendEmail
// (POST /v2/email/outbound-emails).
type wireContent struct {
	Data    string
	Charset string
}

type wireHeader struct {
	Name  string
	Value string
}

type wireSendEmail struct {
	FromEmailAddress string
	Destination      struct{ ToAddresses []string }
	Content          struct {
		Simple *struct {
			Subject *wireContent
			Body    struct{ Text, Html *wireContent }
			Headers []wireHeader
		}
	}
}

type request struct {
	Path string
	Body wireSendEmail
}

// standIn is a local stand-in for the SES v2 API: it verifies the SigV4
// signature and the SendEmail body, and records what it received.
type standIn struct {
	srv  *httptest.Server
	keys aws.Credentials

	// fail, when set, answers instead of accepting (after recording).
	fail func(w http.ResponseWriter) bool

	mu        sync.Mutex
	requests  []request
	delivered []domain.MailMessage
	problems  []string
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	s := &standIn{keys: testCreds}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Errorf("stand-in: %s", p)
		}
	})
	return s
}

func (s *standIn) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	if err := verifySigV4(r, raw, s.keys, "ses", testRegion); err != nil {
		s.problems = append(s.problems, err.Error())
		awsError(w, http.StatusForbidden, "SignatureDoesNotMatch", "bad signature")
		return
	}
	var body wireSendEmail
	if err := json.Unmarshal(raw, &body); err != nil {
		s.problems = append(s.problems, fmt.Sprintf("body is not JSON: %v", err))
		awsError(w, http.StatusBadRequest, "BadRequestException", "bad JSON")
		return
	}
	s.requests = append(s.requests, request{Path: r.Method + " " + r.URL.Path, Body: body})
	if s.fail != nil && s.fail(w) {
		return
	}
	simple := body.Content.Simple
	if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" || simple == nil || simple.Subject == nil ||
		len(body.Destination.ToAddresses) != 1 || body.FromEmailAddress == "" {
		s.problems = append(s.problems, fmt.Sprintf("unexpected request %s %s %s", r.Method, r.URL.Path, raw))
		awsError(w, http.StatusBadRequest, "BadRequestException", "missing fields")
		return
	}
	msg := domain.MailMessage{
		To:      body.Destination.ToAddresses[0],
		Subject: simple.Subject.Data,
	}
	if t := simple.Body.Text; t != nil {
		msg.Text = t.Data
	}
	if h := simple.Body.Html; h != nil {
		msg.HTML = h.Data
	}
	for _, h := range simple.Headers {
		if h.Name == "X-Entity-Ref-ID" {
			msg.ID = h.Value
		}
	}
	s.delivered = append(s.delivered, msg)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"MessageId":"0100019-%d"}`, len(s.delivered))
}

func (s *standIn) Delivered() []domain.MailMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]domain.MailMessage(nil), s.delivered...)
}

func (s *standIn) Requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// awsError answers as an AWS REST-JSON service does.
func awsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

func newMailer(t *testing.T, endpoint string, opts ...ses.Option) *ses.Mailer {
	t.Helper()
	opts = append([]ses.Option{
		ses.WithBaseEndpoint(endpoint),
		ses.WithCredentials(credentials.NewStaticCredentialsProvider(testKeyID, testSecret, "")),
		ses.WithRetryMaxAttempts(1),
	}, opts...)
	m, err := ses.New(context.Background(), testRegion, config.Email{Provider: config.ProviderSES, From: testFrom}, opts...)
	if err != nil {
		t.Fatalf("New: got error %v, want nil", err)
	}
	return m
}

func sample(id string) domain.MailMessage {
	return domain.MailMessage{
		ID:      id,
		To:      "ada@example.com",
		Subject: "Verify your email address",
		Text:    "Open https://app.example.com/verify#t=secret-token to verify.",
		HTML:    `<a href="https://app.example.com/verify#t=secret-token">Verify</a>`,
	}
}

func TestMailerContract(t *testing.T) {
	t.Parallel()
	porttest.RunMailer(t, func(t *testing.T) (ports.Mailer, func() []domain.MailMessage) {
		s := newStandIn(t)
		return newMailer(t, s.srv.URL), s.Delivered
	})
}

func TestSendSpeaksSESv2(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	m := newMailer(t, s.srv.URL)
	msg := sample("0190b7e2-7c1a-7d4e-9a51-3f0c2b8d9e10")
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	var want request
	want.Path = "POST /v2/email/outbound-emails"
	want.Body.FromEmailAddress = testFrom
	want.Body.Destination.ToAddresses = []string{msg.To}
	want.Body.Content.Simple = &struct {
		Subject *wireContent
		Body    struct{ Text, Html *wireContent }
		Headers []wireHeader
	}{
		Subject: &wireContent{Data: msg.Subject, Charset: "UTF-8"},
		Headers: []wireHeader{{Name: "X-Entity-Ref-ID", Value: msg.ID}},
	}
	want.Body.Content.Simple.Body.Text = &wireContent{Data: msg.Text, Charset: "UTF-8"}
	want.Body.Content.Simple.Body.Html = &wireContent{Data: msg.HTML, Charset: "UTF-8"}
	if d := cmp.Diff([]request{want}, s.Requests()); d != "" {
		t.Errorf("requests differ (-want +got):\n%s", d)
	}
}

func TestProviderErrorsMapToKinds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		code   string
		want   domain.Kind
	}{
		{"message rejected is permanent", 400, "MessageRejected", domain.KindInvalid},
		{"bad request is permanent", 400, "BadRequestException", domain.KindInvalid},
		{"too many requests is retryable", 429, "TooManyRequestsException", domain.KindUnavailable},
		{"throttling is retryable", 400, "ThrottlingException", domain.KindUnavailable},
		{"daily quota exceeded is retryable", 400, "LimitExceededException", domain.KindUnavailable},
		{"internal service error is retryable", 500, "InternalServiceErrorException", domain.KindUnavailable},
		{"service unavailable without a body is retryable", 503, "", domain.KindUnavailable},
		{"sending paused waits for the operator", 400, "SendingPausedException", domain.KindUnavailable},
		{"unverified MAIL FROM domain waits for the operator", 400, "MailFromDomainNotVerifiedException", domain.KindUnavailable},
		{"access denied waits for the operator", 403, "AccessDeniedException", domain.KindUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t)
			s.fail = func(w http.ResponseWriter) bool {
				if tc.code == "" {
					w.WriteHeader(tc.status)
					return true
				}
				awsError(w, tc.status, tc.code, "refused by the stand-in")
				return true
			}
			m := newMailer(t, s.srv.URL)
			err := m.Send(context.Background(), sample("m1"))
			if got := domain.KindOf(err); err == nil || got != tc.want {
				t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, tc.want)
			}
			for _, secret := range []string{testSecret, "secret-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}

func TestHangingEndpointTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	m := newMailer(t, srv.URL, ses.WithTimeout(100*time.Millisecond))
	err := m.Send(context.Background(), sample("m1"))
	if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
		t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send: got %v, want an error wrapping context.DeadlineExceeded", err)
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(srv.Close)

	err := newMailer(t, srv.URL).Send(context.Background(), sample("m1"))
	if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
		t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 0 {
		t.Errorf("server saw %d requests, want 0", calls)
	}
}

// The SDK's standard settings apply: the endpoint from AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_SESV2 and credentials from the default chain.
func TestEndpointAndCredentialsComeFromTheEnvironment(t *testing.T) {
	for _, endpointVar := range []string{"AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL"} {
		t.Run(endpointVar, func(t *testing.T) {
			s := newStandIn(t)
			s.keys = aws.Credentials{AccessKeyID: "AKIDFROMENV", SecretAccessKey: "secret-from-env"}
			dir := t.TempDir()
			for k, v := range map[string]string{
				"AWS_ENDPOINT_URL_SESV2":      "",
				"AWS_ENDPOINT_URL":            "",
				"AWS_ACCESS_KEY_ID":           "AKIDFROMENV",
				"AWS_SECRET_ACCESS_KEY":       "secret-from-env",
				"AWS_SESSION_TOKEN":           "",
				"AWS_PROFILE":                 "",
				"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
				"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
				"AWS_EC2_METADATA_DISABLED":   "true",
				"AWS_MAX_ATTEMPTS":            "1",
			} {
				t.Setenv(k, v)
			}
			t.Setenv(endpointVar, s.srv.URL)

			m, err := ses.New(context.Background(), testRegion, config.Email{From: testFrom})
			if err != nil {
				t.Fatalf("New: got error %v, want nil", err)
			}
			msg := sample("m-env")
			if err := m.Send(context.Background(), msg); err != nil {
				t.Fatalf("Send: got error %v, want nil", err)
			}
			if got := s.Delivered(); len(got) != 1 || got[0].ID != msg.ID {
				t.Errorf("delivered %+v, want message %s", got, msg.ID)
			}
		})
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		region string
		from   string
	}{
		{"an empty region", "", testFrom},
		{"a sender that is not an address", testRegion, "no-reply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := ses.New(context.Background(), tc.region, config.Email{From: tc.from})
			if err == nil {
				t.Errorf("New: got %v, nil error; want an error", m)
			}
		})
	}
}
