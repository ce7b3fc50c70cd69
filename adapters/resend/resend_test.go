package resend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/adapters/resend"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/domain"
	"github.com/gatehouse/gatehouse/ports"
	"github.com/gatehouse/gatehouse/ports/porttest"
)

const (
	testKey  = "re_test_0123456789abcdef"
	testFrom = "Gatehouse <no-reply@mail.example.com>"
)

// wireEmail is the JSON body of POST /emails as Resend documents it.
type wireEmail struct {
	From    string            `json:"from"`
	To      []string          `json:"to"`
	Subject string            `json:"subject"`
	HTML    string            `json:"html"`
	Text    string            `json:"text"`
	Headers map[string]string `json:"headers"`
}

type request struct {
	Auth           string
	IdempotencyKey string
	ContentType    string
	Path           string
	Body           wireEmail
}

// standIn is a local stand-in for Resend's API: it checks what Resend
// checks (bearer key, JSON body), dedupes on the Idempotency-Key as Resend
// does, and records every request and every delivered message.
type standIn struct {
	srv *httptest.Server

	// fail, when set, answers instead of the normal path (after recording).
	fail func(w http.ResponseWriter) bool

	mu        sync.Mutex
	requests  []request
	delivered []domain.MailMessage
	ids       map[string]string
	problems  []string
}

func newStandIn(t *testing.T) *standIn {
	t.Helper()
	s := &standIn{ids: map[string]string{}}
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
	var body wireEmail
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&body); err != nil {
		s.problems = append(s.problems, fmt.Sprintf("body is not JSON: %v", err))
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "invalid JSON")
		return
	}
	req := request{
		Auth:           r.Header.Get("Authorization"),
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		ContentType:    r.Header.Get("Content-Type"),
		Path:           r.Method + " " + r.URL.Path,
		Body:           body,
	}
	s.requests = append(s.requests, req)
	if s.fail != nil && s.fail(w) {
		return
	}
	if req.Auth != "Bearer "+testKey {
		s.problems = append(s.problems, "wrong or missing bearer key")
		writeError(w, http.StatusUnauthorized, "missing_api_key", "Missing API key in the authorization header.")
		return
	}
	if !strings.HasSuffix(req.Path, "/emails") || r.Method != http.MethodPost {
		s.problems = append(s.problems, "unexpected request "+req.Path)
		writeError(w, http.StatusNotFound, "not_found", "not found")
		return
	}
	if len(body.To) != 1 || body.From == "" || body.Subject == "" || (body.HTML == "" && body.Text == "") {
		s.problems = append(s.problems, fmt.Sprintf("incomplete body: %+v", body))
		writeError(w, http.StatusUnprocessableEntity, "missing_required_field", "missing field")
		return
	}
	if id, ok := s.ids[req.IdempotencyKey]; ok && req.IdempotencyKey != "" {
		writeJSON(w, http.StatusOK, map[string]string{"id": id})
		return
	}
	id := fmt.Sprintf("email-%d", len(s.ids)+1)
	s.ids[req.IdempotencyKey] = id
	s.delivered = append(s.delivered, domain.MailMessage{
		ID:      req.IdempotencyKey,
		To:      body.To[0],
		Subject: body.Subject,
		Text:    body.Text,
		HTML:    body.HTML,
	})
	if got := body.Headers["X-Entity-Ref-ID"]; got != req.IdempotencyKey {
		s.problems = append(s.problems, fmt.Sprintf("X-Entity-Ref-ID %q, want the idempotency key %q", got, req.IdempotencyKey))
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, name, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "name": name, "message": msg})
}

func emailConfig(baseURL string) config.Email {
	return config.Email{
		Provider:      config.ProviderResend,
		From:          testFrom,
		ResendAPIKey:  testKey,
		ResendBaseURL: baseURL,
	}
}

func newMailer(t *testing.T, baseURL string, opts ...resend.Option) *resend.Mailer {
	t.Helper()
	m, err := resend.New(emailConfig(baseURL), opts...)
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

func TestSendSpeaksResendAPI(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	m := newMailer(t, s.srv.URL)
	msg := sample("0190b7e2-7c1a-7d4e-9a51-3f0c2b8d9e10")
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	want := []request{{
		Auth:           "Bearer " + testKey,
		IdempotencyKey: msg.ID,
		ContentType:    "application/json",
		Path:           "POST /emails",
		Body: wireEmail{
			From:    testFrom,
			To:      []string{msg.To},
			Subject: msg.Subject,
			HTML:    msg.HTML,
			Text:    msg.Text,
			Headers: map[string]string{"X-Entity-Ref-ID": msg.ID},
		},
	}}
	if d := cmp.Diff(want, s.Requests()); d != "" {
		t.Errorf("requests differ (-want +got):\n%s", d)
	}
}

func TestRetryCarriesTheSameIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	m := newMailer(t, s.srv.URL)
	msg := sample("outbox-42")
	for i := range 2 {
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send #%d: got error %v, want nil", i+1, err)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if r.IdempotencyKey != msg.ID {
			t.Errorf("request %d: Idempotency-Key %q, want %q", i+1, r.IdempotencyKey, msg.ID)
		}
	}
	if got := len(s.Delivered()); got != 1 {
		t.Errorf("delivered %d messages, want 1", got)
	}
}

func TestBaseURLPathIsKept(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	m := newMailer(t, s.srv.URL+"/relay/resend")
	if err := m.Send(context.Background(), sample("m1")); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	if got, want := s.Requests()[0].Path, "POST /relay/resend/emails"; got != want {
		t.Errorf("request: got %q, want %q", got, want)
	}
}

func TestProviderErrorsMapToKinds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		want   domain.Kind
	}{
		{"429 rate limit is retryable", 429, `{"statusCode":429,"name":"rate_limit_exceeded","message":"Too many requests."}`, domain.KindUnavailable},
		{"500 server error is retryable", 500, `{"statusCode":500,"name":"application_error","message":"An unexpected error occurred."}`, domain.KindUnavailable},
		{"503 without a JSON body is retryable", 503, `upstream unavailable`, domain.KindUnavailable},
		{"422 validation error is permanent", 422, `{"statusCode":422,"name":"validation_error","message":"Invalid to field."}`, domain.KindInvalid},
		{"400 validation error is permanent", 400, `{"statusCode":400,"name":"validation_error","message":"Invalid idempotency key."}`, domain.KindInvalid},
		{"451 security error is permanent", 451, `{"statusCode":451,"name":"security_error","message":"Security issue."}`, domain.KindInvalid},
		{"401 bad API key waits for the operator", 401, `{"statusCode":401,"name":"missing_api_key","message":"Missing API key."}`, domain.KindUnavailable},
		{"403 unverified domain waits for the operator", 403, `{"statusCode":403,"name":"validation_error","message":"The domain is not verified."}`, domain.KindUnavailable},
		{"409 concurrent idempotent request is retryable", 409, `{"statusCode":409,"name":"concurrent_idempotent_requests","message":"In progress."}`, domain.KindUnavailable},
		{"a redirect is not followed and is retryable", 307, ``, domain.KindUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStandIn(t)
			s.fail = func(w http.ResponseWriter) bool {
				if tc.status == 307 {
					w.Header().Set("Location", "/elsewhere")
				} else if strings.HasPrefix(tc.body, "{") {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
				return true
			}
			m := newMailer(t, s.srv.URL)
			msg := sample("m1")
			err := m.Send(context.Background(), msg)
			if got := domain.KindOf(err); err == nil || got != tc.want {
				t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, tc.want)
			}
			for _, secret := range []string{testKey, "secret-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
			if got := len(s.Requests()); got != 1 {
				t.Errorf("got %d requests, want 1 (the adapter leaves retries to its caller)", got)
			}
		})
	}
}

func TestHangingProviderTimesOut(t *testing.T) {
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

	m := newMailer(t, srv.URL, resend.WithTimeout(50*time.Millisecond))
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
	var calls int
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"id": "x"})
	}))
	srv.Config.ErrorLog = discardLogger()
	t.Cleanup(srv.Close)

	m := newMailer(t, srv.URL)
	err := m.Send(context.Background(), sample("m1"))
	if got, want := domain.KindOf(err), domain.KindUnavailable; err == nil || got != want {
		t.Fatalf("Send: got error %v (kind %v), want kind %v", err, got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 0 {
		t.Errorf("server saw %d requests, want 0", calls)
	}
}

func TestNewRejectsUnsafeOrIncompleteConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(*config.Email)
	}{
		{"an empty API key", func(c *config.Email) { c.ResendAPIKey = "" }},
		{"a sender that is not an address", func(c *config.Email) { c.From = "no-reply" }},
		{"plain http to a remote host", func(c *config.Email) { c.ResendBaseURL = "http://api.resend.com/" }},
		{"a scheme other than http(s)", func(c *config.Email) { c.ResendBaseURL = "ftp://127.0.0.1/" }},
		{"a relative base URL", func(c *config.Email) { c.ResendBaseURL = "/emails" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := emailConfig("https://api.resend.com/")
			tc.change(&cfg)
			m, err := resend.New(cfg)
			if err == nil {
				t.Fatalf("New: got %v, nil error; want an error", m)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q contains the API key", err)
			}
		})
	}
	t.Run("the default base URL is accepted", func(t *testing.T) {
		t.Parallel()
		cfg := emailConfig("")
		if _, err := resend.New(cfg); err != nil {
			t.Errorf("New: got error %v, want nil", err)
		}
	})
}

// discardLogger silences the TLS handshake errors the refused client causes.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
